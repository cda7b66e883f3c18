"""The Textual user interface. Widgets format and display; the numbers come from cnn_tui.core."""
