"""A small modal list to pick one thing: a layer type, a preset, a session."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from .kept import KeptStyles


class PickScreen(KeptStyles, ModalScreen[str | None]):
    """Dismisses with the chosen option's id, or None on escape. With `act`, the choice is
    acted on before the dialog closes, so that what comes back is drawn once, already
    changed (a full redraw of the screen below costs 10-20 ms on 2 cores)."""

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
                 disabled: set[str] | None = None, act: Callable[[str], Awaitable[None]] | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.options = options
        self.notes = notes or []
        self.disabled_ids = disabled or set()
        self.act = act

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_subtitle = "enter picks · esc cancels"  # in the border: no row of its own
            yield Label(self.title_text, id="pick-title", markup=False)
            yield OptionList(*[Option(label, id=key, disabled=key in self.disabled_ids) for key, label in self.options])
            for note in self.notes:
                yield Label(note, classes="note", markup=False)

    def retitle(self, title: str) -> None:
        """A new question above the same options (a dialog kept to be opened again)."""
        if title != self.title_text:
            self.title_text = title
            if self.is_mounted:
                self.query_one("#pick-title", Label).update(title)

    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if not self.is_current:  # a second enter, queued while the first choice was acted on
            return
        if self.act is not None and event.option.id is not None:
            await self.act(event.option.id)
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
