"""A dialog over the main screen shows that screen dimmed behind it, drawn once per opening."""

from __future__ import annotations

from typing import Any

from textual._context import NoActiveAppError, active_app
from textual.renderables.background_screen import BackgroundScreen
from textual.screen import ScreenResultType
from textual.strip import Strip

from .dialog import Dialog


class DimmedBackdrop(Dialog[ScreenResultType]):
    """Textual draws a dialog's translucent background by passing the whole screen below
    through Rich, cell by cell, each time the dialog is drawn (three times as it opens),
    after pushing the dialog has made every widget below draw its lines again: 13-18 ms on
    2 cores, so that a key opening a small dialog held the screen still for more than a
    frame. This takes the lines the screen below shows as the dialog is made, while they
    are still drawn, dims them with the dialog's background colour once, and gives them
    back as they are asked for.

    The backdrop is what was on the screen when the dialog opened: a chart that moves on
    below it shows its new points once the dialog closes. At another size (the terminal
    resized while the dialog is up), for an opaque background, and when the screen below is
    not the one that was current as the dialog was made, Textual's own drawing is used."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            below = active_app.get().screen
        except (NoActiveAppError, LookupError, IndexError):  # made outside a running app
            below = None
        self._below = below
        self._below_strips: list[Strip] | None = (
            None if below is None or not below.is_mounted else below._compositor.render_strips())
        self._backdrop: list[Strip] | None = None

    def _backdrop_lines(self) -> list[Strip] | None:
        width, height = self.size
        lines = self._backdrop
        if lines is None:
            strips, tint = self._below_strips, self.styles.background
            stack = self.app.screen_stack
            below = stack[-2] if len(stack) > 1 and stack[-1] is self else None
            if strips is None or tint.a >= 1 or below is not self._below:  # made while another dialog closed
                return None
            base = self.rich_style  # the text colour Textual gives cells that name none
            lines = self._backdrop = [
                Strip(list(BackgroundScreen.process_segments(strip, tint)), strip.cell_length).apply_style(base)
                for strip in strips]
        if len(lines) != height or (lines and lines[0].cell_length != width):
            return None
        return lines

    def render_line(self, y: int) -> Strip:
        lines = self._backdrop_lines()
        return super().render_line(y) if lines is None else lines[y]
