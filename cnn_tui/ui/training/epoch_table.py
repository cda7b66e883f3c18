"""The per-epoch table: epoch (from 1), correct count, mean loss per batch, train and test
accuracy, seconds."""

from __future__ import annotations

from typing import Any

from textual.css.scalar import Scalar
from textual.widgets import DataTable

# Column keys and their two-line headers (the training pane can be 45 columns wide).
# correct is the reference's total_correct; loss is the mean per batch (its total_loss divided
# by the batches), the number the loss chart draws.
COLUMNS = ("epoch", "correct", "loss", "train", "test", "sec")
HEADERS = ("epoch", "train\ncorrect", "mean\nloss", "train\nacc.", "test\nacc.", "\nsec")


def mean_batch_loss(row: dict[str, Any]) -> float:
    """total_loss is a sum of per-batch means: its mean is comparable to the test loss."""
    return row["total_loss"] / max(1, int(row.get("batches") or 1))


HEADER_HEIGHT = 2
MOST_ROWS_SHOWN = 10  # more rows scroll


class EpochTable(DataTable):
    """As tall as its rows (one at least, MOST_ROWS_SHOWN at most). The height is set here as
    rows come, rather than by CSS `height: auto`, so that room for a session's rows can be
    made in one frame (the charts above shrink: a layout pass) and the rows drawn in the next
    (on 2 cores each is 8-12 ms; together they took more than a frame)."""

    DEFAULT_CSS = f"""
    EpochTable {{ height: {HEADER_HEIGHT + 1}; scrollbar-size-vertical: 1; }}
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, header_height=HEADER_HEIGHT, **kwargs)

    def on_mount(self) -> None:
        for key, header in zip(COLUMNS, HEADERS):
            self.add_column(header, key=key)

    def add_epoch(self, m: dict[str, Any]) -> bool:
        """Add an epoch's row; an epoch already shown (redone after a resume) is replaced.
        True if a row was added: the screen will be laid out again (a DataTable lays the
        screen out for each new row, and the table may get taller)."""
        added = self._put(m)
        self.make_room(self.row_count)
        self.move_cursor(row=self.row_count - 1, animate=False)
        return added

    def _put(self, m: dict[str, Any]) -> bool:
        """The epoch's row, added (True) or its cells replaced (False)."""
        key = str(m["epoch"])
        cells = (
            str(m["epoch"] + 1), f"{m['total_correct']:,}", f"{mean_batch_loss(m):.4f}",
            f"{m['train_accuracy']:.4f}", f"{m['test_accuracy']:.4f}", f"{m['seconds']:.1f}",
        )
        if key in self.rows:
            for column, value in zip(COLUMNS, cells):
                self.update_cell(key, column, value)
            return False
        self.add_row(*cells, key=key)
        return True

    def make_room(self, rows: int) -> bool:
        """The height that shows `rows` rows (scrolling past MOST_ROWS_SHOWN); True if that
        is a new height (the screen will be laid out again)."""
        height = HEADER_HEIGHT + min(max(rows, 1), MOST_ROWS_SHOWN)
        if self.styles.height == Scalar.from_number(height):
            return False
        self.styles.height = height
        return True

    @property
    def selected_epoch(self) -> int | None:
        """The epoch (0-based) of the highlighted row; None when the table is empty."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return int(key) if key is not None else None

    def set_epochs(self, rows: list[dict[str, Any]]) -> None:
        self.clear()
        for row in rows:
            self._put(row)
        self.make_room(self.row_count)
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)
