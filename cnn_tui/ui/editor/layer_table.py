"""The layer list: one row per layer with its numbers; the first bad row marked."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from typing_extensions import Self

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.strip import Strip

from ...core.draft import ArchitectureDraft, inner_layers, walk_layers
from ...core.shapes import ArchitectureSummary, LayerInfo
from ...core.spec import ArchitectureError, LayerPath, format_shape, parse_layer
from .table_menu import MenuStyles, TableMenu

COLUMNS = ("#", "layer", "settings", "output", "params", "MACs", "RF")
FIXED_COLUMNS = 2  # "#" and "layer" stay in view when the table scrolls sideways
HEADER_ROWS = 1
CELL_PADDING = 1  # columns either side of a cell
LARGE_TABLE = 500  # above this many rows (layers), work goes off the event loop and out of the collector's way


def _settings(path: LayerPath, raw: dict[str, Any]) -> str:
    try:
        return parse_layer(path, raw, shallow=True).describe()
    except ArchitectureError:
        return "?"


def path_text(path: LayerPath) -> str:
    """How a layer's place is written: `3`, or `3.1` inside the block at 3."""
    return ".".join(map(str, path))


class QuickScrollBar(ScrollBar):
    """The table's vertical scrollbar, its lines made straight from the bar's segments.

    Textual draws a scrollbar through Rich and then its styles cache, line by line: about
    2 ms for 31 lines on 2 cores. The table's is always shown, and is drawn again at each
    focus move into or out of the table (its look follows the table's focus) and at each
    load. Its lines are the segments Rich would be given (one a line, with the app's line
    filters applied as Textual would), kept until the bar changes."""

    _drawn: tuple[tuple, list[Strip]] | None = None

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False,
                recompose: bool = False) -> Self:
        """Asked to draw itself again, the bar does so only if it would look different.
        Textual asks at every layout pass of the screen, for any widget's change: the bar's
        column, marked to be drawn, stretched the screen's update across both panes (the
        update covers the box around everything marked), each widget in it drawn again."""
        if not (regions or layout or recompose) and self._drawn is not None and self._look()[0] == self._drawn[0]:
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _look(self) -> tuple[tuple | None, ScrollBarRender | None]:
        """What the bar's lines depend on, and the bar; (None, None) where it is not drawn here."""
        bar = self.render()
        if not (isinstance(bar, ScrollBarRender) and self.vertical and isinstance(bar.style, Style)):
            return None, None
        width, height = self.size
        return (width, height, bar.virtual_size, bar.window_size, bar.position, bar.style, self.rich_style,
                tuple(self.get_line_filters())), bar

    def render_lines(self, crop: Region) -> list[Strip]:
        key, bar = self._look()
        if key is None or bar is None:
            return super().render_lines(crop)
        width, height, *_, base, filters = key
        if self._drawn is None or self._drawn[0] != key:
            segments = bar.render_bar(size=height, virtual_size=bar.virtual_size, window_size=bar.window_size,
                                      position=bar.position, thickness=width, vertical=True,
                                      back_color=bar.style.bgcolor, bar_color=bar.style.color)
            _, background = self.background_colors
            lines = []
            for text, style, _ in segments.segments:
                line = Strip([Segment(text, base + style)], width)  # under the bar's own style, the widget's
                for line_filter in filters:
                    line = line.apply_filter(line_filter, background)
                lines.append(line)
            self._drawn = (key, lines)
        return [line.crop(crop.x, crop.right) for line in self._drawn[1][crop.y:crop.bottom]]


@dataclass(frozen=True)
class TableRows:
    """What the table will show: each row's cells, and the columns they need to show whole;
    which layer each row is (its path), and which rows are a block's projection (the
    shortcut the block adds when its layers change the shape: derived, not a layer)."""

    cells: list[list[Any]]
    widths: list[int]  # each column's widest cell (or its header)
    paths: list[LayerPath] = field(default_factory=list)
    projections: frozenset[int] = frozenset()

    @property
    def width(self) -> int:
        """Columns the table needs to show every cell whole, padding included, except the
        last column's right padding: the vertical scrollbar's column, always there, is it."""
        return sum(self.widths) + 2 * CELL_PADDING * len(self.widths) - CELL_PADDING

    @property
    def fixed_width(self) -> int:
        """Columns the fixed columns (# and layer) take, padding included."""
        return sum(self.widths[:FIXED_COLUMNS]) + 2 * CELL_PADDING * FIXED_COLUMNS

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
    table = TableRows(rows, _widths_of(rows), paths, frozenset(projections))
    if len(paths) != len(draft.layers):
        table._rows  # noqa: B018 - with blocks, make the row lookup here (maybe in a thread), not on the loop
    return table


def _widths_of(rows: list[list[Any]]) -> list[int]:
    """Each column's widest cell of `rows`, or its header when that is wider."""
    widths = [cell_len(name) for name in COLUMNS]
    for cells in rows:
        for c, value in enumerate(cells):
            width = cell_len(value.plain if isinstance(value, Text) else str(value))
            if width > widths[c]:
                widths[c] = width
    return widths


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


class LayerTable(ScrollView, can_focus=True):
    """Rows mirror the draft; the editor pane calls `show()` after every change.

    The rows are kept as plain data (`TableRows.cells`) and drawn a line at a time, only the
    lines on screen: showing 40,000 layers costs what showing 10 does. (Textual's DataTable
    keeps per-row bookkeeping that it walks on every change: ~0.1 s a keystroke at 40,000.)
    The header stays at the top and the first two columns (# and layer) stay at the left
    when the table scrolls.
    """

    ALLOW_SELECT = False

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "layer-table--header",
        "layer-table--fixed",
        "layer-table--even-row",
        "layer-table--cursor",
        "layer-table--fixed-cursor",
        "layer-table--hover",
        "layer-table--menu",
        "layer-table--menu-border",
        "layer-table--menu-help",
        "layer-table--menu-cursor",
    }

    # DataTable's look in every theme, as the editor showed it before, except that the focus
    # shows in the cursor's row and the header, not as a tint over the whole table: a tint
    # redrew every line at each focus move (2-5 ms of a tab on 2 cores).
    DEFAULT_CSS = """
    LayerTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        min-height: 4;
        scrollbar-size-vertical: 1;
        overflow-y: scroll;  /* always there: one appearing laid the whole screen out */
        &.-fits {  /* nothing to scroll: the bar is drawn in the table's own colour */
            scrollbar-color: $surface;
            scrollbar-color-hover: $surface;
            scrollbar-color-active: $surface;
            scrollbar-background: $surface;
            scrollbar-background-hover: $surface;
            scrollbar-background-active: $surface;
        }
        &:focus {
            & > .layer-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .layer-table--header {
                background-tint: $foreground 5%;
            }
            & > .layer-table--fixed-cursor {
                color: $block-cursor-foreground;
                background: $block-cursor-background;
            }
        }
        &:dark > .layer-table--even-row {
            background: $surface-darken-1 40%;
        }
        & > .layer-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .layer-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .layer-table--fixed {
            background: $secondary-muted;
            color: $foreground;
        }
        & > .layer-table--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .layer-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .layer-table--fixed-cursor {
            background: $block-cursor-blurred-background;
            color: $foreground;
        }
        & > .layer-table--hover {
            background: $block-hover-background;
        }
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

    BINDINGS: ClassVar[list[BindingType]] = [  # home / end go to the first / last layer, never sideways (hiding # and the layer)
        Binding("enter", "select_cursor", "select", show=False),
        Binding("space", "toggle_fold", "fold", show=False),
        Binding("up", "cursor_up", "cursor up", show=False),
        Binding("down", "cursor_down", "cursor down", show=False),
        Binding("pageup", "cursor_page_up", "page up", show=False),
        Binding("pagedown", "cursor_page_down", "page down", show=False),
        Binding("home,ctrl+home", "first_row", "first layer", show=False),
        Binding("end,ctrl+end", "last_row", "last layer", show=False),
        # While a menu is open the table reads every key itself (`on_key`); these two only
        # put its keys in the key bar (a click there presses them).
        Binding("enter", "pick", "pick"),
        Binding("escape", "close_menu", "cancel"),
    ]
    MENU_ACTIONS = frozenset({"pick", "close_menu"})
    MENU_MIN_HEIGHT = 6  # lines (four options and the borders) before the menu may hide the cursor's row

    @dataclass
    class RowHighlighted(Message):
        """The cursor moved to another row (never when only the cells under it changed)."""

        cursor_row: int

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
        self._table = TableRows([], [cell_len(name) for name in COLUMNS])
        self._cursor_row = 0
        # Lines drawn, by (row, its styles, scroll, width): a repaint of the whole table (a
        # focus move, a dialog closing) draws only the rows whose look changed. Emptied when
        # the rows change; the least recently drawn go first.
        self._lines: LRUCache[tuple, Strip] = LRUCache(1024)
        self._base: Style | None = None  # set for each redraw (render_lines)
        self._hover_row: int | None = None  # the row under the mouse, drawn lighter
        self._menu: TableMenu | None = None
        # Keys that open a menu (the app's `a` and `d`), acted on here as they come: keys that
        # arrive with them (typed fast, or together over a slow link) reach the open menu.
        # Left to the app's bindings, they are read only after the table has taken the keys
        # behind them, and those were lost (or an enter picked the first option).
        self.menu_keys: dict[str, Callable[[], None]] = {}
        self._menu_drawn: tuple[Region, list[Strip]] | None = None  # set for each redraw

    @property
    def vertical_scrollbar(self) -> ScrollBar:
        """The vertical scrollbar, made as Textual makes it but drawn quickly (QuickScrollBar)."""
        if self._vertical_scrollbar is None:
            bar = QuickScrollBar(vertical=True, name="vertical", thickness=self.scrollbar_size_vertical)
            bar.display = False
            self._vertical_scrollbar = bar
            self.app._start_widget(self, bar)
        return self._vertical_scrollbar

    # --- what the rest of the editor reads ------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._table.cells)

    @property
    def cursor_row(self) -> int:
        return self._cursor_row

    @property
    def wanted_width(self) -> int:
        """Columns the table needs to show every cell whole."""
        return self._table.width

    @property
    def column_widths(self) -> list[int]:
        """Each column's width without its padding: its widest cell (or header)."""
        return self._table.widths

    @property
    def rows(self) -> TableRows:
        """What the table shows now."""
        return self._table

    def get_row_at(self, row: int) -> list[Any]:
        """The cells of `row`: str, or Text where the cell has a style."""
        return self._table.cells[row]

    def show(self, table: TableRows, keep_row: int | None = None) -> None:
        """Show `table` (from `table_rows`): the work on the event loop is the lines on screen,
        however many rows there are.

        With the same number of rows and `keep_row` None or the cursor's row, the cells change
        under a resting cursor: nothing scrolls and no RowHighlighted is posted, so the field
        being typed in keeps its focus. Otherwise the cursor goes to `keep_row` (or stays,
        within the new rows) and into view, posting RowHighlighted if its row changed.
        """
        in_place = len(table.cells) == self.row_count and keep_row in (None, self._cursor_row)
        self._table = table
        self._lines.clear()
        self._set_virtual_size(Size(table.width, len(table.cells) + HEADER_ROWS))
        if not in_place:
            self.move_cursor(row=self._cursor_row if keep_row is None else keep_row)
        self.refresh()

    def _set_virtual_size(self, size: Size) -> None:
        """A new scrollable size, never laying the screen out for it.

        Textual's `virtual_size` asks for a layout pass of the whole screen whenever it
        changes, though the table's own size stays put: 10-15 ms on a 2-core machine for
        each layer added or column widened. What does depend on it (the scrollbars'
        thumbs, the scroll offsets' limits) is updated here directly. The vertical
        scrollbar is always there (a scrollbar appearing or going is a layout pass too,
        as a file of more layers than the table's height is loaded), drawn in the table's
        colour while every row fits; only a horizontal one may still come or go.
        """
        if size != self.virtual_size:
            self.set_reactive(ScrollView.virtual_size, size)
            self._scroll_update(size)
            self._mark_fit()

    def _mark_fit(self) -> None:
        """The vertical scrollbar drawn in the table's colour while every row fits."""
        self.set_class(self.virtual_size.height <= self.scrollable_content_region.height, "-fits")

    def move_cursor(self, row: int, animate: bool = False) -> None:
        """Put the cursor on `row` (within the rows) and scroll it into view."""
        row = max(0, min(row, self.row_count - 1))
        if row != self._cursor_row:
            self._refresh_row(self._cursor_row)
            self._cursor_row = row
            self._refresh_row(row)
            self.post_message(self.RowHighlighted(row))
        self._scroll_to_cursor(animate)

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
        top = HEADER_ROWS if height - HEADER_ROWS >= 3 else 0  # a tiny table: over the header too
        box_width = min(menu.wanted_width, width)
        x = max(0, min(self._table.widths[0] + 2 * CELL_PADDING, width - box_width))  # from the layer column
        cursor_line = HEADER_ROWS + self._cursor_row - self.scroll_offset.y
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

    def action_cursor_up(self) -> None:
        self._key_move(self._cursor_row - 1)

    def action_cursor_down(self) -> None:
        self._key_move(self._cursor_row + 1)

    def action_cursor_page_up(self) -> None:
        self._page(-1)

    def action_cursor_page_down(self) -> None:
        self._page(1)

    def action_first_row(self) -> None:
        self._key_move(0)

    def action_last_row(self) -> None:
        self._key_move(self.row_count - 1)

    def action_select_cursor(self) -> None:
        if self.row_count:
            self.post_message(self.RowSelected(self._cursor_row))

    def action_toggle_fold(self) -> None:
        if self.row_count:
            self.post_message(self.FoldToggled(self._cursor_row))

    def _key_move(self, row: int) -> None:
        self._set_hover(None)  # the keyboard leads: no second highlight where the mouse rests
        self.move_cursor(row=row)

    def _page(self, direction: int) -> None:
        """The view and the cursor move a screenful, so the cursor keeps its place on screen."""
        page = self._rows_shown()
        self.scroll_to(y=self.scroll_y + direction * page, animate=False, force=True)
        self._key_move(self._cursor_row + direction * page)

    def on_click(self, event: events.Click) -> None:
        """A click moves the cursor to its row; a click on the cursor's row selects it."""
        if self._menu is not None:
            self._menu_click(event)
            return
        row = self._row_at(event)
        if row is None:
            return
        event.stop()
        if row == self._cursor_row:
            self.post_message(self.RowSelected(row))
        else:
            self.move_cursor(row=row)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._set_hover(self._row_at(event) if self._menu is None else None)

    def on_leave(self, event: events.Leave) -> None:
        self._set_hover(None)

    def on_resize(self, event: events.Resize) -> None:
        self._mark_fit()
        self._scroll_to_cursor()

    def _row_at(self, event: events.MouseEvent) -> int | None:
        """The row under the mouse, if any (not the header)."""
        offset = event.get_content_offset(self)
        if offset is None or offset.y < HEADER_ROWS:
            return None
        row = offset.y - HEADER_ROWS + self.scroll_offset.y
        return row if row < self.row_count else None

    def _set_hover(self, row: int | None) -> None:
        if row != self._hover_row:
            for old_or_new in (self._hover_row, row):
                if old_or_new is not None:
                    self._refresh_row(old_or_new)
            self._hover_row = row

    # --- scrolling ------------------------------------------------------------------

    def _rows_shown(self) -> int:
        """How many rows fit below the header."""
        return max(1, self.scrollable_content_region.height - HEADER_ROWS)

    def _scroll_to_cursor(self, animate: bool = False) -> None:
        """Scroll vertically (only) so the cursor's row is on screen. Forced: right after a
        `show()` the scrollbar that allows it may not be laid out yet."""
        top, shown = self.scroll_offset.y, self._rows_shown()
        if self._cursor_row < top:
            self.scroll_to(y=self._cursor_row, animate=animate, force=True)
        elif self._cursor_row >= top + shown:
            self.scroll_to(y=self._cursor_row - shown + 1, animate=animate, force=True)

    def _refresh_row(self, row: int) -> None:
        self.refresh_line(row + HEADER_ROWS)

    # --- drawing --------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        # The widget's style, worked out once for all the lines drawn now: Textual walks the
        # ancestors for it (~0.1 ms a call on 2 cores, a third of a redraw, once per line).
        # So is the menu's box, when it is open.
        self._base = self.rich_style
        box = self.menu_box()
        if self._menu is not None and box is not None and box.height >= 3:
            self._menu_drawn = (box, self._menu.draw(box.width, box.height, self._menu_styles()))
        try:
            return super().render_lines(crop)
        finally:
            self._base = None
            self._menu_drawn = None

    def render_line(self, y: int) -> Strip:
        """Line `y` of the widget: the table's line, with the menu's over it where it is open."""
        strip = self._table_line(y)
        if self._menu_drawn is not None:
            box, lines = self._menu_drawn
            if box.y <= y < box.bottom:
                strip = Strip.join([strip.crop(0, box.x), lines[y - box.y], strip.crop(box.right, self.size.width)])
        return strip

    def _table_line(self, y: int) -> Strip:
        """Line `y` of the table: the header at y 0, then the rows from the scroll position;
        the fixed columns, then the others from the horizontal scroll position."""
        width = self.size.width
        base = self._base if self._base is not None else self.rich_style
        scroll_x, scroll_y = self.scroll_offset
        if y < HEADER_ROWS:
            row, cells = None, COLUMNS
        else:
            row = y - HEADER_ROWS + scroll_y
            if row >= self.row_count:
                return Strip.blank(width, base)
            cells = self._table.cells[row]
        styles = self._row_styles(row, base)
        key = (row, styles, scroll_x, width)
        strip = self._lines.get(key)
        if strip is None:
            strip = self._lines[key] = self._draw_line(cells, styles, scroll_x, width, base)
        return strip

    def _draw_line(self, cells: Any, styles: Any, scroll_x: int, width: int, base: Style) -> Strip:
        """One line's strip: its cells padded to their columns in the row's styles."""
        (fixed_style, fixed_over), (style, over), rest = styles
        widths = self._table.widths
        fixed: list[Segment] = []
        for value, column_width in zip(cells[:FIXED_COLUMNS], widths):
            fixed += self._cell(value, column_width, fixed_style, fixed_over)
        scrolling: list[Segment] = []
        for value, column_width in zip(cells[FIXED_COLUMNS:], widths[FIXED_COLUMNS:]):
            scrolling += self._cell(value, column_width, style, over)
        scrolling.append(Segment(" " * max(0, scroll_x + width - self._table.width), rest))
        if scroll_x:  # the scrolled columns cut at the view's left edge
            scrolling = list(Strip(scrolling).crop(scroll_x, scroll_x + width - self._table.fixed_width))
        return Strip([*fixed, *scrolling]).adjust_cell_length(width, base).simplify()

    def _row_styles(self, row: int | None, base: Style) -> tuple[tuple[Style, Style], tuple[Style, Style], Style]:
        """How a row is drawn: for the fixed columns and for the others, the cells' style and
        the text colour laid over the cells' own (the cursor's colour wins, as in DataTable);
        then the style of the blank right of the last column. `row` None: the header."""
        component = self.get_component_rich_style
        if row is None:
            header = component("layer-table--header")
            return (header, Style()), (header, Style()), header
        stripe = component("layer-table--even-row") if row % 2 == 0 else base
        mark = component("layer-table--hover") if row == self._hover_row else Style()
        fixed_mark = mark
        if row == self._cursor_row:
            mark += component("layer-table--cursor")
            fixed_mark = mark + component("layer-table--fixed-cursor")
        fixed = component("layer-table--fixed")
        return ((fixed + fixed_mark, Style.from_color(fixed_mark.color)),
                (stripe + mark, Style.from_color(mark.color)), stripe + mark)

    def _cell(self, value: Any, width: int, style: Style, over: Style) -> list[Segment]:
        """One cell padded to its column: a Text keeps its own styles, between the row's
        style and the colour laid over them; a str is plain."""
        pad = " " * CELL_PADDING
        if isinstance(value, Text) and not value.spans and value.plain:
            # one style for the whole text (a layer's name): the segments Rich would give, made
            # directly (a sixth of the time: ~2 µs against ~15 µs a cell on 2 cores)
            own = self.app.console.get_style(value.style, default=Style.null())
            return [Segment(pad, style + over), Segment(value.plain, style + own + over),
                    Segment(" " * (width - value.cell_len) + pad, style + over)]
        if isinstance(value, Text):
            # assembled, the Text's own style becomes a span (rendered alone, Rich drops it)
            cell = Text.assemble(pad, value, " " * (width - value.cell_len) + pad, end="")
            return [Segment(part.text, style + part.style + over) for part in cell.render(self.app.console)]
        return [Segment(pad + value + " " * (width - cell_len(value)) + pad, style + over)]


def error_text(error: ArchitectureError | None) -> Text:
    if error is None:
        return Text("✓ valid", style="green")
    return Text(f"✗ {error}", style="bold red")
