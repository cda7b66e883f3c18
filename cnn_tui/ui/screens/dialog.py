"""The base of the app's screens: opening a dialog lays out nothing but the dialog, and
closing one redraws the screen below once, not twice."""

from __future__ import annotations

from textual.await_remove import AwaitRemove
from textual.geometry import Size
from textual.screen import ModalScreen, Screen, ScreenResultType


class SteadyScreen:
    """Mixed into a screen (before Screen, a plain class so that Textual's styles of the
    screen class are kept): the screen is laid out again on a Resize only when its size is new.

    Textual gives each screen pushed the terminal's size in a Resize event after the
    screen has laid itself out as it was shown, and the event lays out that screen and every
    screen below it again, though none of their sizes changed: several ms each on 2 cores,
    for each dialog opened. Only a new size (the terminal resized) needs a layout pass."""

    def _screen_resized(self: Screen, size: Size) -> None:
        if size != self._compositor.size:
            super()._screen_resized(size)  # type: ignore[misc]


class Dialog(SteadyScreen, ModalScreen[ScreenResultType]):
    """A dialog over the panes, made for one question and removed when it closes.

    Textual removes a closed screen's widgets as it would any child of the app, and then
    asks the screen now current for a layout pass and a full redraw, although the screen
    below changed in nothing: on 2 cores that was a second frame of 10-23 ms after the one
    that had already drawn the screen back. A dialog is taken out of the app without that
    request; the screen below was drawn whole as the dialog closed."""

    def remove(self) -> AwaitRemove:
        return self.app._prune(self)  # no parent named: nothing is laid out again for it
