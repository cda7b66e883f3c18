"""cnn-tui: design and train small convolutional networks in the terminal."""

__version__ = "0.1.0"
