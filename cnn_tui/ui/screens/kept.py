"""Dialogs kept and shown again keep their styles between showings."""

from __future__ import annotations

from textual import events
from textual.screen import Screen


class KeptStyles(Screen):
    """Textual applies the whole stylesheet to a screen each time it is pushed, which throws
    away every line its widgets drew, to be drawn again (1-6 ms on 2 cores for a list of a
    screenful) each time it opens. A dialog kept to be shown again (help) has the styles
    it had last time unless the theme changed meanwhile, so it is styled again only then (and
    the first time)."""

    _styled_for_theme: str | None = None

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # Runs before Screen's own handler, which reads the flag.
        theme = self.app.theme
        if self._styled_for_theme == theme:
            event.refresh_styles = False
        self._styled_for_theme = theme
