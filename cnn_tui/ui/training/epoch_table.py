"""The per-epoch table: epoch (from 1), correct count, mean loss per batch, train and test
accuracy, seconds."""

from __future__ import annotations

from typing import Any, ClassVar

from ..row_table import RowTable, Rows, column_widths

# The two-line headers (the training pane can be 45 columns wide). correct is the
# reference's total_correct; loss is the mean per batch (its total_loss divided by the
# batches), the number the loss chart draws.
HEADER = (
    ("epoch", "train", "mean", "train", "test", ""),
    ("", "correct", "loss", "acc.", "acc.", "sec"),
)
HEADER_WIDTHS = column_widths(HEADER)


def mean_batch_loss(row: dict[str, Any]) -> float:
    """total_loss is a sum of per-batch means: its mean is comparable to the test loss."""
    return row["total_loss"] / max(1, int(row.get("batches") or 1))


def epoch_cells(m: dict[str, Any]) -> list[str]:
    """An epoch's row, from its metrics line."""
    return [str(m["epoch"] + 1), f"{m['total_correct']:,}", f"{mean_batch_loss(m):.4f}",
            f"{m['train_accuracy']:.4f}", f"{m['test_accuracy']:.4f}", f"{m['seconds']:.1f}"]


HEADER_HEIGHT = len(HEADER)
MOST_ROWS_SHOWN = 10  # more rows scroll
SCREEN_SHARE = 4  # and no more than a quarter of the terminal's rows: at 80×24 in one pane, the
# table's last rows (the cursor's, the newest) fell below the screen


class EpochTable(RowTable):
    """One row per finished epoch, in the order they finished; an epoch redone after a resume
    replaces its row. The cursor goes to each new row; it marks its epoch on the charts.

    As tall as its rows (one at least, MOST_ROWS_SHOWN at most, and a quarter of the
    terminal's rows at most). The height is set here as
    rows come, rather than by CSS `height: auto`, so that room for a session's rows can be
    made in one frame (the charts above shrink: a layout pass) and the rows drawn in the next.
    A row added lays nothing out unless the table grows: past MOST_ROWS_SHOWN rows, or in
    a run that reserved its rows as it started, an epoch's end draws the lines that changed
    and nothing else.
    """

    HEADER: ClassVar = HEADER

    DEFAULT_CSS = f"""
    EpochTable {{ height: {HEADER_HEIGHT + 1}; }}
    """

    class RowHighlighted(RowTable.RowHighlighted):
        """The cursor's row changed, or its epoch's numbers did: see `selected_epoch`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._epochs: list[int] = []  # each row's epoch (0-based)
        self._room = 0  # rows kept for the run under way (see reserve)

    def add_epoch(self, m: dict[str, Any]) -> bool:
        """Add an epoch's row (or replace it, for an epoch shown already) and put the cursor
        on it. True if the table grew: the screen will be laid out again."""
        epoch = int(m["epoch"])
        cells = list(self._table.cells)
        appended = epoch not in self._epochs
        if appended:
            row = len(cells)
            self._epochs.append(epoch)
            cells.append(epoch_cells(m))
        else:
            row = self._epochs.index(epoch)
            cells[row] = epoch_cells(m)
        self._show(Rows(cells, column_widths(cells[row:row + 1], self._table.widths)), row, appended)
        return self.fit()

    def reserve(self, epochs: int) -> bool:
        """Room for a run's `epochs` rows (up to MOST_ROWS_SHOWN) as it starts, so that its
        epochs' ends lay nothing out: the charts above shrink once, not at every epoch (a
        layout pass and both charts built again, each time). True if the table changed height."""
        self._room = epochs
        return self.fit()

    def set_epochs(self, rows: list[dict[str, Any]]) -> None:
        """Show a session's epochs, the cursor on the last."""
        by_epoch = {int(m["epoch"]): epoch_cells(m) for m in rows}  # a redone epoch: its last line
        self._room = 0
        self._epochs = list(by_epoch)
        cells = list(by_epoch.values())
        self._show(Rows(cells, column_widths(cells, HEADER_WIDTHS)), len(cells) - 1)
        self.fit()

    def _show(self, rows: Rows, cursor_row: int, appended: bool = False) -> None:
        """Show `rows` with the cursor on `cursor_row` (`appended`: see RowTable.show). The
        row under the cursor is always new or changed here: RowHighlighted is posted whether
        the cursor moved or not."""
        before = self._cursor_row
        self.show(rows, keep_row=max(0, cursor_row), appended=appended)
        if self._cursor_row == before:
            self.post_message(self.RowHighlighted(self._cursor_row))

    def fit(self) -> bool:
        """The height for the rows and the room kept (after a change of either, or of the
        terminal's size); True if that is a new height."""
        return self.make_room(max(self.row_count, self._room))

    def make_room(self, rows: int) -> bool:
        """The height that shows `rows` rows (scrolling past MOST_ROWS_SHOWN); True if that
        is a new height (the screen will be laid out again)."""
        most = max(1, min(MOST_ROWS_SHOWN, self.app.size.height // SCREEN_SHARE))
        height = self.header_rows + min(max(rows, 1), most)
        if self.styles.height is not None and self.styles.height.cells == height:
            return False
        self.styles.height = height
        return True

    @property
    def selected_epoch(self) -> int | None:
        """The epoch (0-based) of the highlighted row; None when the table is empty."""
        return self._epochs[self._cursor_row] if self._epochs else None
