"""A small modal list to pick one thing: a preset, an export format, a session."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from .dialog import Dialog


class PickScreen(Dialog[str | None]):
    """Dismisses with the chosen option's id, or None on escape."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]
    DEFAULT_CSS = """
    PickScreen { align: center middle; background: $background; }  /* opaque: drawing the dimmed screen behind took 10-15 ms */
    PickScreen > Vertical { width: auto; min-width: 40; max-width: 90%; height: auto; max-height: 90%;
                            border: round $accent; background: $surface; padding: 0 1;
                            border-subtitle-color: $text-muted; }
    PickScreen OptionList { width: auto; min-width: 100%; height: auto; max-height: 20; }
    PickScreen .note { color: $warning; }
    """

    def __init__(self, title: str, options: list[tuple[str, str]], notes: list[str] | None = None,
                 disabled: set[str] | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.options = options
        self.notes = notes or []
        self.disabled_ids = disabled or set()

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_subtitle = "enter picks · esc cancels"  # in the border: no row of its own
            yield Label(self.title_text, id="pick-title", markup=False)
            yield OptionList(*[Option(label, id=key, disabled=key in self.disabled_ids) for key, label in self.options])
            for note in self.notes:
                yield Label(note, classes="note", markup=False)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if self.is_current:  # not a second enter, queued while the first closed the dialog
            self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
