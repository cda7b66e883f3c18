"""The per-epoch table: epoch, total_correct, loss, train and test accuracy, seconds."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable

# Short headers for a narrow pane: correct is the reference's total_correct, loss its total_loss.
COLUMNS = ("epoch", "correct", "loss", "train", "test", "sec")


class EpochTable(DataTable):
    DEFAULT_CSS = """
    EpochTable { height: auto; max-height: 12; min-height: 3; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)

    def on_mount(self) -> None:
        for name in COLUMNS:
            self.add_column(name, key=name)

    def add_epoch(self, m: dict[str, Any]) -> None:
        """Add an epoch's row; an epoch already shown (redone after a resume) is replaced."""
        key = str(m["epoch"])
        cells = (
            str(m["epoch"]), f"{m['total_correct']:,}", f"{m['total_loss']:.4f}",
            f"{m['train_accuracy']:.4f}", f"{m['test_accuracy']:.4f}", f"{m['seconds']:.1f}",
        )
        if key in self.rows:
            for column, value in zip(COLUMNS, cells):
                self.update_cell(key, column, value)
        else:
            self.add_row(*cells, key=key)
        self.move_cursor(row=self.row_count - 1, animate=False)

    def set_epochs(self, rows: list[dict[str, Any]]) -> None:
        self.clear()
        for row in rows:
            self.add_epoch(row)
