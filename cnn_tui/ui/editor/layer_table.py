"""The layer list: one row per layer with its numbers; the first bad row marked."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from ...core.shapes import ArchitectureSummary
from ...core.spec import ArchitectureError, format_shape, parse_layer

COLUMNS = ("#", "layer", "settings", "output", "params", "MACs", "RF")
CHUNK_ROWS = 100  # rows added per frame: measuring their widths stays well under a frame
FILL_INTERVAL = 0.01
CELL_PADDING = 1  # columns either side of a cell
LARGE_TABLE = 500  # above this many rows (layers), work goes off the event loop and out of the collector's way


def settle_garbage_collector() -> None:
    """Move every object alive now out of reach of Python's full collections.

    A full collection walks every tracked object while holding the interpreter: with a
    40,000-layer table and its undo copies that is 0.2-0.7 s of a frozen screen, several
    times per load. What lives now (the modules, the widgets, the table's rows) is long-lived;
    freed objects are still freed by reference counting, only cyclic garbage made before
    a freeze stays (a few KB per load).
    """
    gc.freeze()


def _settings(index: int, raw: dict[str, Any]) -> str:
    try:
        return parse_layer(index, raw).describe()
    except ArchitectureError:
        return "?"


@dataclass(frozen=True)
class TableRows:
    """What the table will show: each row's cells, and the columns they need to show whole."""

    cells: list[list[Any]]
    widths: list[int]  # each column's widest cell (or its header)

    @property
    def width(self) -> int:
        """Columns the table needs to show every cell whole, padding included."""
        return sum(self.widths) + 2 * CELL_PADDING * len(self.widths)


def table_rows(layers: list[dict[str, Any]], summary: ArchitectureSummary, typed: dict[int, str]) -> TableRows:
    """Every row of the table, worked out without touching a widget (so a thread can do it)."""
    rows = [_cells(index, raw, summary, typed.get(index)) for index, raw in enumerate(layers)]
    return TableRows(rows, _widths_of(rows))


def _widths_of(rows: list[list[Any]]) -> list[int]:
    """Each column's widest cell of `rows`, or its header when that is wider."""
    widths = [cell_len(name) for name in COLUMNS]
    for cells in rows:
        for c, value in enumerate(cells):
            width = cell_len(value.plain if isinstance(value, Text) else str(value))
            if width > widths[c]:
                widths[c] = width
    return widths


def _cells(index: int, raw: dict[str, Any], summary: ArchitectureSummary, typed: str | None = None) -> list[Any]:
    """One row; `typed` replaces the settings of a row whose field holds text that is not
    a value (the layer's last good value would be misleading there)."""
    error = summary.error
    info = summary.layers[index] if index < len(summary.layers) else None
    kind = str(raw.get("type", "?"))
    if info is not None:
        name = Text(kind, style="bold" if info.counted else "")
        if info.implicit_flatten:
            name.append(" ⤵flat", style="dim")
        cells: list[Any] = [
            str(index), name, info.settings, format_shape(info.output_shape),
            f"{info.params:,}" if info.params else "–",
            f"{info.macs:,}" if info.macs else "–",
            format_shape(info.receptive_field) if info.receptive_field else "–",
        ]
        if error is not None and error.index == index:  # e.g. the output does not fit the classes
            cells[3] = Text(f"✗ {cells[3]}", style="bold red")
        return cells
    if error is not None and error.index == index:
        settings = Text(typed, style="red") if typed is not None else _settings(index, raw)
        return [Text(str(index), style="bold red"), Text(kind, style="bold red"),
                settings, Text("✗ invalid", style="bold red"), "", "", ""]
    # below the error: unknown until it is fixed
    return [Text(str(index), style="dim"), Text(kind, style="dim"),
            Text(_settings(index, raw), style="dim"), Text("?", style="dim"), "", "", ""]


class LayerTable(DataTable):
    """Rows mirror the draft; the editor pane calls `show()` after every change."""

    DEFAULT_CSS = """
    LayerTable { height: 1fr; min-height: 4; scrollbar-size-vertical: 1; }
    """

    BINDINGS = [  # home / end go to the first / last layer, never sideways (hiding # and the layer)
        Binding("home", "first_row", "first layer", show=False),
        Binding("end", "last_row", "last layer", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, fixed_columns=2, cell_padding=CELL_PADDING,
                         **kwargs)
        self.wanted_width = 0
        self._rows: list[list[Any]] = []  # what the table shows, or will once filled
        self._target_row = 0  # where the cursor goes once its row is added
        self._filling = 0  # which rebuild is adding rows

    def action_first_row(self) -> None:
        self.move_cursor(row=0, animate=False)

    def action_last_row(self) -> None:
        self.move_cursor(row=max(0, self.row_count - 1), animate=False)

    def on_mount(self) -> None:
        for name in COLUMNS:
            self.add_column(name, key=name)

    def show(self, table: TableRows, keep_row: int | None = None) -> None:
        """Redraw every row (from `table_rows`).

        With the same number of rows, only the cells that changed are updated in place: the
        cursor stays and no row-highlight event fires, so the field being typed in keeps its
        focus. Otherwise the rows are rebuilt: the first CHUNK_ROWS at once, the rest a chunk
        per frame, so a 40,000-layer file never holds the screen still (about 400 frames).
        """
        rows = table.cells
        if len(rows) == len(self._rows) and keep_row in (None, self.cursor_row):
            # In place, also while a large table is still filling: rows already added are
            # updated, the fill adds the others from the new cells.
            added = self.row_count
            changed = [r for r, (new, old) in enumerate(zip(rows[:added], self._rows)) if new != old]
            for r in changed:
                for c, (new, old) in enumerate(zip(rows[r], self._rows[r])):
                    if new != old:  # widths come from the rows, measured off the loop
                        self.update_cell_at(Coordinate(r, c), new, update_width=False)
            self._rows = rows
            self._set_widths(table)
            return
        self._rows = rows
        self._target_row = self.cursor_row if keep_row is None else keep_row
        self._filling += 1  # a fill still under way for older rows stops at its next chunk
        self.clear()
        self._set_widths(table)
        self._add_rows(self._filling, 0)

    def _set_widths(self, table: TableRows) -> None:
        """Columns as wide as their widest cell, known before the rows are all added. (A
        DataTable measures a narrowed column again over every row: 40,000 cells a keystroke.)"""
        self.wanted_width = table.width
        changed = False
        for column, width in zip(self.columns.values(), table.widths):
            if column.content_width != width:
                column.content_width = width
                changed = True
        if changed:
            self._require_update_dimensions = True  # Textual 8.2's flag for "widths changed"
            self.refresh()

    def _add_rows(self, filling: int, start: int) -> None:
        if filling != self._filling:
            return
        end = min(len(self._rows), start + CHUNK_ROWS)
        for index in range(start, end):
            self.add_row(*self._rows[index], key=str(index))
        if len(self._rows) > LARGE_TABLE:
            settle_garbage_collector()
        if start <= self._target_row < end or (end == len(self._rows) and self._target_row >= end):
            self.move_cursor(row=max(0, min(self._target_row, self.row_count - 1)), animate=False)
        if end < len(self._rows):
            self.set_timer(FILL_INTERVAL, lambda: self._add_rows(filling, end))


def error_text(error: ArchitectureError | None) -> Text:
    if error is None:
        return Text("✓ valid", style="green")
    return Text(f"✗ {error}", style="bold red")
