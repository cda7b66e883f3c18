"""The saved sessions: open one, rename it, delete it, export it, compare it with others, see its predictions."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Label, OptionList

from .pick import PickScreen


class SessionsScreen(PickScreen):
    """Dismisses with "open:NAME", "rename:NAME", "delete:NAME", "export:NAME",
    "compare:NAME" or "gallery:NAME", or None on escape."""

    BINDINGS = [
        Binding("escape", "cancel", "cancel"),
        Binding("n", "act('rename')", "rename"),
        Binding("x,delete", "act('delete')", "delete"),
        Binding("e", "act('export')", "export"),
        Binding("c", "act('compare')", "compare"),
        Binding("g", "act('gallery')", "gallery"),
    ]

    def on_mount(self) -> None:
        self.query_one("Vertical").mount(
            Label("enter opens · n renames · x deletes · escape closes\n"
                  "e exports · c compares · g shows test images and predictions", classes="hint"))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.prevent_default()  # PickScreen's handler would dismiss a second time
        self.dismiss(f"open:{event.option.id}")

    def action_act(self, action: str) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return
        option = options.get_option_at_index(options.highlighted)
        self.dismiss(f"{action}:{option.id}")
