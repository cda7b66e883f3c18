"""Ask for one line of text (a file path, a session name)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class TextPrompt(ModalScreen[str | None]):
    """Dismisses with the text (stripped), or None on escape or when left empty."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]
    DEFAULT_CSS = """
    TextPrompt { align: center middle; }
    TextPrompt > Vertical { width: 70%; min-width: 40; height: auto; border: round $accent; background: $surface; padding: 0 1; }
    TextPrompt .hint { color: $text-muted; }
    """

    def __init__(self, title: str, value: str = "", hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, markup=False)
            yield Input(self.value, id="text", select_on_focus=False)
            if self.hint:
                yield Label(self.hint, classes="hint", markup=False)
            yield Label("enter to confirm · escape to cancel", classes="hint")

    def on_mount(self) -> None:
        # The offered text is selected: typing replaces it, an arrow key or end keeps it.
        self.query_one(Input).select_all()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
