"""The saved sessions: open one, rename it or delete it."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Label, OptionList

from .pick import PickScreen


class SessionsScreen(PickScreen):
    """Dismisses with "open:NAME", "rename:NAME" or "delete:NAME", or None on escape."""

    BINDINGS = [
        Binding("escape", "cancel", "cancel"),
        Binding("n", "act('rename')", "rename"),
        Binding("x,delete", "act('delete')", "delete"),
    ]

    def on_mount(self) -> None:
        self.query_one("Vertical").mount(
            Label("enter opens · n renames · x deletes · escape closes", classes="hint"))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.prevent_default()  # PickScreen's handler would dismiss a second time
        self.dismiss(f"open:{event.option.id}")

    def action_act(self, action: str) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return
        option = options.get_option_at_index(options.highlighted)
        self.dismiss(f"{action}:{option.id}")
