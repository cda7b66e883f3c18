"""The headless core: architecture maths, data, trainer and sessions. Never imports Textual."""
