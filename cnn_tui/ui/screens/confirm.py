"""Ask before something that throws work away (delete a layer, replace the network, quit)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label

from .backdrop import DimmedBackdrop


class ConfirmScreen(DimmedBackdrop[bool]):
    """Dismisses with True on y or enter, False on n or escape."""

    BINDINGS = [
        Binding("y,enter", "answer(True)", "yes"),
        Binding("n,escape", "answer(False)", "no"),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: auto; min-width: 40; max-width: 90%; height: auto;
                               border: round $warning; background: $surface; padding: 0 1; }
    ConfirmScreen .hint { color: $text-muted; }
    """

    def __init__(self, question: str, detail: str = "") -> None:
        super().__init__()
        self.question = question
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, markup=False)
            if self.detail:
                yield Label(self.detail, classes="hint", markup=False)
            yield Label("y or enter: yes · n or escape: no", classes="hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
