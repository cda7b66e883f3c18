"""The test set's confusion matrix of one epoch, for the run the training pane shows.

The app hands it the finished epochs' metrics lines (and hands it new ones as epochs finish,
so it updates live); the matrix, per-class accuracy and confused pairs come from
cnn_tui.core.confusion. The screen only chooses which epoch to show.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Label, Static

from ...core.confusion import (
    Confusion,
    ConfusionError,
    confusion_table,
    epoch_confusion,
    pairs_lines,
    recorded,
    summary_line,
)
from .backdrop import DimmedBackdrop

HINT = "←/→ epoch · home/end first/last · escape closes"


class ConfusionScreen(DimmedBackdrop[None]):
    """Shows `epoch` (0-based, shown from 1) of `rows`; left / right step through the epochs.
    On the last epoch it follows new ones as they arrive; on an earlier one it stays there."""

    BINDINGS = [
        Binding("escape,q,m", "dismiss", "close"),
        Binding("left", "step(-1)", "previous epoch"),
        Binding("right", "step(1)", "next epoch"),
        Binding("home", "go(0)", "first", show=False),
        Binding("end", "go(-1)", "last", show=False),
    ]
    DEFAULT_CSS = """
    ConfusionScreen { align: center middle; }
    ConfusionScreen > VerticalScroll { width: 84; max-width: 100%; height: auto; max-height: 100%;
                                       border: round $accent; background: $surface; padding: 0 1;
                                       border-subtitle-color: $text-muted; }
    ConfusionScreen #confusion-title { text-style: bold; }
    """

    def __init__(self, rows: list[dict[str, Any]], dataset: str, epoch: int | None = None,
                 session: str | None = None) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self.dataset = dataset
        self.session = session
        self.epoch = 0
        self.confusion: Confusion | None = None  # what is shown (None: a message instead)
        self.set_rows(rows, dataset, epoch, draw=False)

    def compose(self) -> ComposeResult:
        with VerticalScroll() as frame:
            frame.border_subtitle = HINT
            yield Label("", id="confusion-title", markup=False)
            yield Static("", id="confusion-matrix")
            yield Static("", id="confusion-pairs")

    def on_mount(self) -> None:
        self.redraw()

    # --- what the app tells it ----------------------------------------------------------

    def set_rows(self, rows: list[dict[str, Any]], dataset: str, epoch: int | None = None,
                 draw: bool = True) -> None:
        """The finished epochs, in order. Without `epoch`: the one shown stays, unless it was
        the last, which follows to the new last (an epoch that is gone: the last)."""
        following = not self.rows or self.epoch >= len(self.rows) - 1
        self.rows, self.dataset = list(rows), dataset
        if epoch is not None:
            self.epoch = epoch
        elif following or self.epoch >= len(self.rows):
            self.epoch = len(self.rows) - 1
        self.epoch = max(0, min(self.epoch, len(self.rows) - 1))
        if draw and self.is_mounted:
            self.redraw()

    # --- drawing ----------------------------------------------------------------------

    def redraw(self) -> None:
        self.confusion = None
        title = self.query_one("#confusion-title", Label)
        matrix = self.query_one("#confusion-matrix", Static)
        pairs = self.query_one("#confusion-pairs", Static)
        self.query_one(VerticalScroll).border_title = "Confusion matrix" + (f" · session {self.session}"
                                                                            if self.session else "")
        if not self.rows:
            title.update(self.dataset)
            matrix.update(Text("no epoch has finished yet: each epoch's matrix appears here when its test pass is done",
                               style="dim"))
            pairs.update("")
            return
        row = self.rows[self.epoch]
        heading = f"epoch {self.epoch + 1} of {len(self.rows)} finished · "
        try:
            if not recorded(row):
                raise ConfusionError("this epoch has no confusion matrix: it was trained before cnn-tui recorded "
                                     "them; epochs trained from now on record one")
            confusion = epoch_confusion(row, self.dataset)
        except ConfusionError as exc:
            title.update(heading + self.dataset)
            matrix.update(Text(str(exc), style="yellow"))
            pairs.update("")
            return
        self.confusion = confusion
        title.update(heading + summary_line(confusion))
        matrix.update(confusion_table(confusion))
        legend = Text()
        legend.append("rows: true class · columns: predicted class · acc.: the class's share right\n", style="dim")
        legend.append("most confused (true → predicted):\n", style="bold")
        legend.append("\n".join("  " + line for line in pairs_lines(confusion)))
        pairs.update(legend)

    # --- keys -------------------------------------------------------------------------

    def action_step(self, delta: int) -> None:
        self.action_go(max(0, min(len(self.rows) - 1, self.epoch + delta)))

    def action_go(self, epoch: int) -> None:
        if not self.rows:
            return
        self.epoch = epoch % len(self.rows)
        self.redraw()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
