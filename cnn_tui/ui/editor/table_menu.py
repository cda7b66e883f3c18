"""A menu that the layer table draws over its rows, under the selected one: the layer types
to add (`a`), or whether to delete the selected layer (`d`).

As dialog screens of their own, these hid the editor, and closing one redrew the whole
screen (about 90 widgets: a frame or more on 2 cores) to show the change. Drawn by the
table, opening one, moving in it and picking redraw the table's lines (and the form, for
the layer selected after), and the network stays in view.

This module holds what a menu is and how it looks; the table places it, draws it and feeds
it keys and clicks (`LayerTable.open_menu`), and the editor acts on what is picked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

TYPE_AHEAD_SECONDS = 1.0  # letters typed within this of each other spell one name


@dataclass(frozen=True)
class MenuOption:
    key: str  # what picking it reports
    name: str
    help: str


class MenuStyles(NamedTuple):
    border: Style
    body: Style
    muted: Style  # the options' help text
    cursor: Style


class TableMenu:
    """The options, the highlighted one and the first one in view; `act` is what picking an
    option does (given its key). `shortcuts` are letters that answer at once: an option's
    key, or None to close the menu. `chosen` is set once an option is picked: the menu then
    ignores input until the table closes it."""

    def __init__(self, options: list[MenuOption], title: str, hint: str,
                 act: Callable[[str], Awaitable[None]], shortcuts: dict[str, str | None] | None = None) -> None:
        if not options:
            raise ValueError("a menu needs at least one option")
        self.options = options
        self.title = title
        self.hint = hint
        self.act = act
        self.shortcuts = shortcuts or {}
        self.cursor = 0
        self.top = 0  # the first option in view
        self.chosen: str | None = None
        self._typed = ""
        self._typed_at = float("-inf")
        self._name_width = max(cell_len(option.name) for option in options)

    # --- size ------------------------------------------------------------------------

    @property
    def wanted_width(self) -> int:
        """Columns to show every option whole: borders, padding, the name column, the help."""
        widest_help = max(cell_len(option.help) for option in self.options)
        return max(2 + 1 + self._name_width + 2 + widest_help + 1,
                   cell_len(self.title) + 6, cell_len(self.hint) + 6)

    @property
    def wanted_height(self) -> int:
        return len(self.options) + 2  # and the two borders

    # --- moving ----------------------------------------------------------------------

    def move(self, delta: int) -> None:
        self.cursor = max(0, min(self.cursor + delta, len(self.options) - 1))

    def move_to(self, index: int) -> None:
        self.move(index - self.cursor)

    def index_of(self, key: str) -> int:
        return next(i for i, option in enumerate(self.options) if option.key == key)

    def type_ahead(self, character: str, now: float) -> bool:
        """Highlight the first option whose name starts with the letters typed (a second
        letter within a second extends the first). False when none does."""
        prefix = (self._typed if now - self._typed_at <= TYPE_AHEAD_SECONDS else "") + character.lower()
        self._typed_at = now
        for candidate in (prefix, character.lower()):  # "rx": no name; then "x" alone
            index = next((i for i, option in enumerate(self.options) if option.name.startswith(candidate)), None)
            if index is not None:
                self._typed, self.cursor = candidate, index
                return True
        self._typed = ""
        return False

    def keep_in_view(self, shown: int) -> None:
        """Scroll so the highlighted option is among the `shown` in view."""
        shown = max(1, shown)
        if self.cursor < self.top:
            self.top = self.cursor
        elif self.cursor >= self.top + shown:
            self.top = self.cursor - shown + 1
        self.top = max(0, min(self.top, len(self.options) - shown))

    def option_at(self, line: int, height: int) -> int | None:
        """The option drawn on `line` of a box `height` lines tall (0 is the top border)."""
        index = self.top + line - 1
        if 1 <= line < height - 1 and index < len(self.options):
            return index
        return None

    # --- drawing ---------------------------------------------------------------------

    def draw(self, width: int, height: int, styles: MenuStyles) -> list[Strip]:
        """The box's lines, `width` cells wide and `height` tall (at least 3)."""
        shown = height - 2
        self.keep_in_view(shown)
        inner = width - 2
        more_above = self.top > 0
        more_below = self.top + shown < len(self.options)
        lines = [self._border("╭", f" {self.title} ", "▲" if more_above else "", "╮", inner, styles.border, left=True)]
        for index in range(self.top, self.top + shown):
            lines.append(self._option_line(index, inner, styles))
        lines.append(self._border("╰", f" {self.hint} ", "▼" if more_below else "", "╯", inner, styles.border,
                                  left=False))
        return lines

    @staticmethod
    def _border(corner: str, text: str, mark: str, end: str, inner: int, style: Style, left: bool) -> Strip:
        """A border line with `text` set into it (left or right, cut to fit) and a
        scroll `mark` near its right end."""
        room = inner - 2 - len(mark)  # a dash each side of the text
        text = set_cell_size(text, room) if cell_len(text) > room else text
        fill = "─" * (room - cell_len(text))
        body = f"─{text}{fill}─" if left else f"─{fill}{text}─"
        return Strip([Segment(corner + body + mark + end, style)], inner + 2)

    def _option_line(self, index: int, inner: int, styles: MenuStyles) -> Strip:
        side = Segment("│", styles.border)
        if index >= len(self.options):
            return Strip([side, Segment(" " * inner, styles.body), side], inner + 2)
        option = self.options[index]
        name = " " + set_cell_size(option.name, self._name_width) + "  "
        if cell_len(name) > inner:  # a box narrower than the names cuts them
            name = set_cell_size(name, inner)
        help_text = set_cell_size(option.help, max(0, inner - cell_len(name)))
        if index == self.cursor:
            middle = [Segment(name + help_text, styles.body + styles.cursor)]
        else:
            middle = [Segment(name, styles.body), Segment(help_text, styles.body + styles.muted)]
        return Strip([side, *middle, side], inner + 2)
