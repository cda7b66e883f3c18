"""The layer list: one row per layer with its numbers; the first bad row marked."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip

from ...core.draft import ArchitectureDraft, inner_layers, walk_layers
from ...core.shapes import ArchitectureSummary, LayerInfo
from ...core.spec import ArchitectureError, LayerPath, format_shape, parse_layer
from ..row_table import CELL_PADDING, RowTable, Rows, column_widths
from .table_menu import MenuStyles, TableMenu

COLUMNS = ("#", "layer", "settings", "output", "params", "MACs", "RF")
HEADER_WIDTHS = column_widths([COLUMNS])
LARGE_TABLE = 500  # above this many rows (layers), work goes off the event loop and out of the collector's way


def _settings(path: LayerPath, raw: dict[str, Any]) -> str:
    try:
        return parse_layer(path, raw, shallow=True).describe()
    except ArchitectureError:
        return "?"


def path_text(path: LayerPath) -> str:
    """How a layer's place is written: `3`, or `3.1` inside the block at 3."""
    return ".".join(map(str, path))


@dataclass(frozen=True)
class TableRows(Rows):
    """What the layer list will show: each row's cells, and the columns they need to show
    whole; which layer each row is (its path), and which rows are a block's projection (the
    shortcut the block adds when its layers change the shape: derived, not a layer). The
    first two columns (# and layer) stay in view when the table scrolls sideways."""

    paths: list[LayerPath] = field(default_factory=list)
    projections: frozenset[int] = frozenset()

    fixed_columns: ClassVar[int] = 2


    def row_of(self, path: LayerPath | None) -> int | None:
        """The row showing the layer at `path` (or its nearest shown block), if any."""
        while path:
            if len(path) == 1 and path[0] < len(self.paths) and self.paths[path[0]] == path:
                return path[0]  # above any block, row and index agree: no lookup table needed
            if path in self._rows:
                return self._rows[path]
            path = path[:-1]  # inside a folded block: its block's row
        return None

    @functools.cached_property
    def _rows(self) -> dict[LayerPath, int]:
        return {path: row for row, path in enumerate(self.paths) if row not in self.projections}


def table_rows(draft: ArchitectureDraft, summary: ArchitectureSummary, typed: dict[LayerPath, str]) -> TableRows:
    """Every row of the table, worked out without touching a widget (so a thread can do it):
    the layers shown (not those inside a folded block), each block's projection after its
    layers."""
    rows: list[list[Any]] = []
    paths: list[LayerPath] = []
    projections: set[int] = set()
    ends: list[tuple[LayerPath, LayerInfo]] = []  # unfolded blocks whose projection row is still to come

    def close_blocks(upto: LayerPath | None) -> None:
        while ends and (upto is None or upto[: len(ends[-1][0])] != ends[-1][0]):
            block, info = ends.pop()
            assert info.projection is not None
            projections.add(len(rows))
            paths.append(block)
            rows.append(_projection_cells(block, info))

    for path, raw in walk_layers(draft.layers, (), draft.folded_layer):
        close_blocks(path)
        info = summary.seen.get(path)
        fold = draft.folded_layer(raw) if inner_layers(raw) is not None else None
        paths.append(path)
        rows.append(_cells(path, raw, info, summary.error, typed.get(path), fold))
        if info is not None and info.projection is not None and not fold:
            ends.append((path, info))
    close_blocks(None)
    table = TableRows(rows, column_widths(rows, HEADER_WIDTHS), paths, frozenset(projections))
    if len(paths) != len(draft.layers):
        table._rows  # noqa: B018 - with blocks, make the row lookup here (maybe in a thread), not on the loop
    return table


def _name(path: LayerPath, kind: str, fold: bool | None) -> str:
    """The layer column: indented by depth; a block shows whether it is folded."""
    mark = "" if fold is None else ("▸ " if fold else "▾ ")
    return "  " * (len(path) - 1) + mark + kind


def _cells(path: LayerPath, raw: dict[str, Any], info: LayerInfo | None, error: ArchitectureError | None,
           typed: str | None, fold: bool | None) -> list[Any]:
    """One row; `typed` replaces the settings of a row whose field holds text that is not
    a value (the layer's last good value would be misleading there). `fold` is None for a
    layer that is not a block."""
    kind = str(raw.get("type", "?"))
    where = path_text(path)
    if info is not None:
        name = Text(_name(path, kind, fold), style="bold" if info.counted else "")
        if info.implicit_flatten:
            name.append(" ⤵flat", style="dim")
        cells: list[Any] = [
            where, name, info.settings, format_shape(info.output_shape),
            f"{info.params:,}" if info.params else "–",
            f"{info.macs:,}" if info.macs else "–",
            format_shape(info.receptive_field) if info.receptive_field else "–",
        ]
        if error is not None and error.path == path:  # e.g. the output does not fit the classes
            cells[3] = Text(f"✗ {cells[3]}", style="bold red")
        return cells
    if error is not None and error.path == path:
        settings = Text(typed, style="red") if typed is not None else _settings(path, raw)
        return [Text(where, style="bold red"), Text(_name(path, kind, fold), style="bold red"),
                settings, Text("✗ invalid", style="bold red"), "", "", ""]
    # below the error (or a block it is inside): unknown until it is fixed
    return [Text(where, style="dim"), Text(_name(path, kind, fold), style="dim"),
            Text(_settings(path, raw), style="dim"), Text("?", style="dim"), "", "", ""]


def _projection_cells(block: LayerPath, info: LayerInfo) -> list[Any]:
    """The row after a block's layers that shows its shortcut's projection."""
    projection = info.projection
    assert projection is not None
    return [Text("", style="dim"), Text("  " * len(block) + "↳ projection", style="italic"),
            Text(projection.describe(), style="italic"), format_shape(info.output_shape),
            f"{projection.params:,}", f"{projection.macs:,}", "–"]


class LayerTable(RowTable):
    """Rows mirror the draft; the editor pane calls `show()` after every change.

    The rows are kept as plain data (`TableRows.cells`) and drawn a line at a time, only the
    lines on screen: showing 40,000 layers costs what showing 10 does. (Textual's DataTable
    keeps per-row bookkeeping that it walks on every change: ~0.1 s a keystroke at 40,000.)
    The header stays at the top and the first two columns (# and layer) stay at the left
    when the table scrolls. enter on a row selects its layer, space folds a block, and the
    add and delete menus are drawn over the rows.
    """

    HEADER = (COLUMNS,)

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "layer-table--menu",
        "layer-table--menu-border",
        "layer-table--menu-help",
        "layer-table--menu-cursor",
    }

    DEFAULT_CSS = """
    LayerTable {
        height: 1fr;
        min-height: 4;
        & > .layer-table--menu { background: $panel; color: $foreground; }
        & > .layer-table--menu-border { background: $panel; color: $accent; }
        & > .layer-table--menu-help { color: $text-muted; }
        & > .layer-table--menu-cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "select", show=False),
        Binding("space", "toggle_fold", "fold", show=False),
        # While a menu is open the table reads every key itself (`on_key`); these two only
        # put its keys in the key bar (a click there presses them).
        Binding("enter", "pick", "pick"),
        Binding("escape", "close_menu", "cancel"),
    ]
    MENU_ACTIONS = frozenset({"pick", "close_menu"})
    MENU_MIN_HEIGHT = 6  # lines (four options and the borders) before the menu may hide the cursor's row

    class RowHighlighted(RowTable.RowHighlighted):
        """The cursor moved to another layer's row (never when only the cells under it changed)."""

    @dataclass
    class RowSelected(Message):
        """enter on the cursor's row, or a click on it."""

        cursor_row: int

    @dataclass
    class FoldToggled(Message):
        """space on the cursor's row: fold or unfold the block there."""

        cursor_row: int

    @dataclass
    class MenuPicked(Message):
        """An option of the open menu was picked (enter, a shortcut or a click). The menu
        stays open, ignoring input, until `close_menu()`: whatever the pick changes is drawn
        with it gone."""

        menu: TableMenu
        key: str

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._table: TableRows = TableRows([], HEADER_WIDTHS)
        self._menu: TableMenu | None = None
        # Keys that open a menu (the app's `a` and `d`), acted on here as they come: keys that
        # arrive with them (typed fast, or together over a slow link) reach the open menu.
        # Left to the app's bindings, they are read only after the table has taken the keys
        # behind them, and those were lost (or an enter picked the first option).
        self.menu_keys: dict[str, Callable[[], None]] = {}
        self._menu_drawn: tuple[Region, list[Strip]] | None = None  # set for each redraw

    @property
    def rows(self) -> TableRows:
        """What the table shows now."""
        return self._table


    # --- menus (add a layer, delete one) --------------------------------------------

    @property
    def menu(self) -> TableMenu | None:
        """The menu drawn over the rows, if one is open."""
        return self._menu

    def open_menu(self, menu: TableMenu) -> None:
        """Draw `menu` over the rows, below the cursor's row (above it, or lower down, when
        there is no room); until it closes the table reads every key for it, except ctrl
        keys, which close it and do their usual job."""
        self._menu = menu
        self._set_hover(None)
        self._scroll_to_cursor()
        self.refresh()
        self.refresh_bindings()

    def close_menu(self) -> None:
        if self._menu is not None:
            self._menu = None
            self.refresh()
            self.refresh_bindings()

    def menu_box(self) -> Region | None:
        """Where the open menu is drawn, in the table's lines (line 0 is the header): below
        the cursor's row, else above it; where neither has room for every option, on the
        larger side when it shows a few (the menu scrolls), else over the cursor's row too."""
        menu = self._menu
        if menu is None:
            return None
        width, height = self.size
        top = self.header_rows if height - self.header_rows >= 3 else 0  # a tiny table: over the header too
        box_width = min(menu.wanted_width, width)
        x = max(0, min(self._table.widths[0] + 2 * CELL_PADDING, width - box_width))  # from the layer column
        cursor_line = self.header_rows + self._cursor_row - self.scroll_offset.y
        if not self.row_count:
            below, above = height - top, 0
            cursor_line = top - 1
        else:
            below, above = height - cursor_line - 1, cursor_line - top
        wanted = menu.wanted_height
        if below >= wanted or (below >= above and below >= self.MENU_MIN_HEIGHT):
            return Region(x, cursor_line + 1, box_width, min(wanted, below))
        if above >= self.MENU_MIN_HEIGHT:
            box_height = min(wanted, above)
            return Region(x, cursor_line - box_height, box_width, box_height)
        box_height = max(0, min(wanted, height - top))
        return Region(x, max(top, height - box_height), box_width, box_height)

    def _menu_styles(self) -> MenuStyles:
        component = self.get_component_rich_style
        return MenuStyles(component("layer-table--menu-border"), component("layer-table--menu"),
                          component("layer-table--menu-help", partial=True), component("layer-table--menu-cursor"))

    def _menu_changed(self) -> None:
        box = self.menu_box()
        if box is not None:
            self.refresh_lines(box.y, box.height)

    def _pick(self) -> None:
        menu = self._menu
        if menu is not None and menu.chosen is None:
            menu.chosen = menu.options[menu.cursor].key
            self.post_message(self.MenuPicked(menu, menu.chosen))

    def _menu_key(self, event: events.Key) -> None:
        assert self._menu is not None
        menu = self._menu
        if menu.chosen is not None:
            return  # picked, being added: a second enter must not add it twice
        box = self.menu_box()
        page = max(1, (box.height if box is not None else 3) - 2)
        key = event.key
        moves = {"up": -1, "down": 1, "pageup": -page, "pagedown": page}
        if key == "escape":
            self.close_menu()
        elif key == "enter":
            self._pick()
        elif key in moves:
            menu.move(moves[key])
        elif key == "home":
            menu.move_to(0)
        elif key == "end":
            menu.move_to(len(menu.options) - 1)
        elif event.character in menu.shortcuts:
            answer = menu.shortcuts[event.character]
            if answer is None:
                self.close_menu()
            else:
                menu.move_to(menu.index_of(answer))
                self._pick()
        elif event.is_printable and event.character and not event.character.isspace():
            if not menu.type_ahead(event.character, time.monotonic()):
                self.app.bell()
        self._menu_changed()

    def check_consume_key(self, key: str, character: str | None) -> bool:
        # The key bar then shows the menu's keys, not the app's, which do nothing meanwhile.
        return self._menu is not None and not key.startswith("ctrl+")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return (action in self.MENU_ACTIONS) == (self._menu is not None)

    def action_pick(self) -> None:
        self._pick()

    def action_close_menu(self) -> None:
        self.close_menu()

    def on_key(self, event: events.Key) -> None:
        if self._menu is None:
            opener = self.menu_keys.get(event.key)
            if opener is not None:
                event.stop()
                event.prevent_default()
                opener()
            return
        if event.key.startswith("ctrl+"):
            self.close_menu()  # and the key goes on to do its job
            return
        event.stop()
        event.prevent_default()
        self._menu_key(event)

    def on_blur(self, event: events.Blur) -> None:
        self.close_menu()  # a click elsewhere, another screen: the menu was left

    def _menu_click(self, event: events.Click) -> None:
        """A click on an option picks it; outside the box closes the menu."""
        assert self._menu is not None
        event.stop()
        box, offset = self.menu_box(), event.get_content_offset(self)
        if box is None or offset is None or offset not in box:
            self.close_menu()
            return
        index = self._menu.option_at(offset.y - box.y, box.height)
        if index is not None and self._menu.chosen is None:
            self._menu.move_to(index)
            self._menu_changed()
            self._pick()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._menu_scroll(event, 1)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._menu_scroll(event, -1)

    def _menu_scroll(self, event: events.MouseEvent, delta: int) -> None:
        if self._menu is not None:  # the wheel moves through the menu, not the rows under it
            event.stop()
            event.prevent_default()
            self._menu.move(delta)
            self._menu_changed()

    # --- keys and mouse -------------------------------------------------------------

    def action_select_cursor(self) -> None:
        if self.row_count:
            self.post_message(self.RowSelected(self._cursor_row))

    def action_toggle_fold(self) -> None:
        if self.row_count:
            self.post_message(self.FoldToggled(self._cursor_row))

    def on_click(self, event: events.Click) -> None:
        """With a menu open, a click is the menu's (RowTable's own handling of it is skipped)."""
        if self._menu is not None:
            event.prevent_default()
            self._menu_click(event)

    def _clicked(self, row: int) -> None:
        """A click on the cursor's row selects it; on another row, moves the cursor there."""
        if row == self._cursor_row:
            self.post_message(self.RowSelected(row))
        else:
            self.move_cursor(row=row)

    def _hovers(self) -> bool:
        return self._menu is None

    # --- drawing --------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        # The menu's box, worked out once for all the lines drawn now, when it is open.
        box = self.menu_box()
        if self._menu is not None and box is not None and box.height >= 3:
            self._menu_drawn = (box, self._menu.draw(box.width, box.height, self._menu_styles()))
        try:
            return super().render_lines(crop)
        finally:
            self._menu_drawn = None

    def render_line(self, y: int) -> Strip:
        """Line `y` of the widget: the table's line, with the menu's over it where it is open."""
        strip = super().render_line(y)
        if self._menu_drawn is not None:
            box, lines = self._menu_drawn
            if box.y <= y < box.bottom:
                strip = Strip.join([strip.crop(0, box.x), lines[y - box.y], strip.crop(box.right, self.size.width)])
        return strip



def error_text(error: ArchitectureError | None) -> Text:
    if error is None:
        return Text("✓ valid", style="green")
    return Text(f"✗ {error}", style="bold red")
