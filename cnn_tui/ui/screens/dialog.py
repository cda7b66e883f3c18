"""The base of the app's dialogs: closing one redraws the screen below once, not twice."""

from __future__ import annotations

from textual.await_remove import AwaitRemove
from textual.screen import ModalScreen, ScreenResultType


class Dialog(ModalScreen[ScreenResultType]):
    """A dialog over the panes, made for one question and removed when it closes.

    Textual removes a closed screen's widgets as it would any child of the app, and then
    asks the screen now current for a layout pass and a full redraw, although the screen
    below changed in nothing: on 2 cores that was a second frame of 10-23 ms after the one
    that had already drawn the screen back. A dialog is taken out of the app without that
    request; the screen below was drawn whole as the dialog closed."""

    def remove(self) -> AwaitRemove:
        return self.app._prune(self)  # no parent named: nothing is laid out again for it
