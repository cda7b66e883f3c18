"""The layer list: one row per layer with its numbers; the first bad row marked."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from ...core.shapes import ArchitectureSummary
from ...core.spec import ArchitectureError, format_shape, parse_layer

COLUMNS = ("#", "layer", "settings", "output", "params", "MACs", "RF")
CHUNK_ROWS = 300  # rows added per frame: measuring their widths stays well under a frame
FILL_INTERVAL = 0.01


def _settings(index: int, raw: dict[str, Any]) -> str:
    try:
        return parse_layer(index, raw).describe()
    except ArchitectureError:
        return "?"


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
        super().__init__(cursor_type="row", zebra_stripes=True, fixed_columns=2, **kwargs)
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

    def show(self, layers: list[dict[str, Any]], summary: ArchitectureSummary, keep_row: int | None = None,
             typed: dict[int, str] | None = None) -> None:
        """Redraw every row from the summary.

        With the same number of rows, only the cells that changed are updated in place: the
        cursor stays and no row-highlight event fires, so the field being typed in keeps its
        focus. Otherwise the rows are rebuilt: the first CHUNK_ROWS at once, the rest a chunk
        per frame, so a 40,000-layer file never holds the screen still.
        """
        typed = typed or {}
        rows = [self._cells(index, raw, summary, typed.get(index)) for index, raw in enumerate(layers)]
        if len(rows) == len(self._rows) == self.row_count and keep_row in (None, self.cursor_row):
            changed = [r for r, (new, old) in enumerate(zip(rows, self._rows)) if new != old]
            for r in changed:
                for c, (new, old) in enumerate(zip(rows[r], self._rows[r])):
                    if new != old:
                        self.update_cell_at(Coordinate(r, c), new, update_width=True)
            self._rows = rows
            if changed:
                self.wanted_width = self._width_of(rows)
            return
        self._rows = rows
        self.wanted_width = self._width_of(rows)
        self._target_row = self.cursor_row if keep_row is None else keep_row
        self._filling += 1  # a fill still under way for older rows stops at its next chunk
        self.clear()
        for column in self.columns.values():  # clear() keeps the old widths: start from the headers
            column.content_width = cell_len(str(column.label))
        self._add_rows(self._filling, 0)

    def _add_rows(self, filling: int, start: int) -> None:
        if filling != self._filling:
            return
        end = min(len(self._rows), start + CHUNK_ROWS)
        for index in range(start, end):
            self.add_row(*self._rows[index], key=str(index))
        if start <= self._target_row < end or (end == len(self._rows) and self._target_row >= end):
            self.move_cursor(row=max(0, min(self._target_row, self.row_count - 1)), animate=False)
        if end < len(self._rows):
            self.set_timer(FILL_INTERVAL, lambda: self._add_rows(filling, end))

    def _width_of(self, rows: list[list[Any]]) -> int:
        """Columns this table needs to show every cell of `rows` whole."""
        widths = [cell_len(name) for name in COLUMNS]
        for cells in rows:
            for c, value in enumerate(cells):
                width = cell_len(value.plain if isinstance(value, Text) else str(value))
                if width > widths[c]:
                    widths[c] = width
        return sum(widths) + 2 * self.cell_padding * len(COLUMNS)

    @staticmethod
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


def error_text(error: ArchitectureError | None) -> Text:
    if error is None:
        return Text("✓ valid", style="green")
    return Text(f"✗ {error}", style="bold red")
