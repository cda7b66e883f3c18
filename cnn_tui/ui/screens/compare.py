"""Runs side by side in the app: choosing them, then their table, curves and differences."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.widgets import Label, SelectionList, Static

from ...core.compare import Run, difference_lines, run_stats
from ...render import compare_table
from ..training.charts import MetricChart
from .backdrop import DimmedBackdrop

# one colour per run, in the order named (plotext's names)
RUN_COLORS = ("cyan", "orange", "green", "magenta", "yellow", "blue", "red", "white")


class ChooseRunsScreen(DimmedBackdrop[list[str] | None]):
    """Mark two sessions or more; dismisses with their names, or None on escape."""

    BINDINGS = [Binding("escape", "cancel", "cancel"), Binding("c", "compare", "compare")]
    DEFAULT_CSS = """
    ChooseRunsScreen { align: center middle; }
    ChooseRunsScreen > Vertical { width: auto; min-width: 50; max-width: 90%; height: auto; max-height: 90%;
                                  border: round $accent; background: $surface; padding: 0 1; }
    ChooseRunsScreen SelectionList { height: auto; max-height: 20; }
    ChooseRunsScreen .hint { color: $text-muted; }
    """

    def __init__(self, options: list[tuple[str, str]], marked: str) -> None:
        super().__init__()
        self.options = options
        self.marked = marked

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("compare which sessions?")
            yield SelectionList[str](*[(label, name, name == self.marked) for name, label in self.options])
            yield Label("space marks · c compares the marked · escape closes", classes="hint")

    def on_mount(self) -> None:
        """The cursor starts on the session after the one already marked (before it, if it is
        the last): space then marks a second one, and c compares the two. On the marked one,
        a first space unmarked it."""
        names = [name for name, _ in self.options]
        choices = self.query_one(SelectionList)
        choices.focus()
        if self.marked in names:
            marked = names.index(self.marked)
            choices.highlighted = marked + 1 if marked + 1 < len(names) else max(0, marked - 1)

    def action_compare(self) -> None:
        chosen = self.query_one(SelectionList).selected
        if len(chosen) < 2:
            self.notify("mark two sessions or more with space", severity="warning", markup=False)
            return
        self.dismiss(list(chosen))

    def action_cancel(self) -> None:
        self.dismiss(None)


class CompareScreen(DimmedBackdrop[None]):
    """The runs' best and last values, their test accuracy and train loss overlaid, and
    what differs from the first to each other one (layers, params, MACs, settings)."""

    BINDINGS = [Binding("escape,q", "dismiss", "close")]
    DEFAULT_CSS = """
    CompareScreen { align: center middle; }
    CompareScreen > Vertical { width: 96%; height: 94%; border: round $accent; background: $surface; padding: 0 1; }
    CompareScreen #compare-body { height: 1fr; }
    CompareScreen #compare-table { width: auto; }
    CompareScreen #compare-charts { height: 14; min-width: 60; }
    CompareScreen MetricChart { width: 1fr; }
    CompareScreen #compare-differences { width: auto; min-width: 100%; }
    CompareScreen .hint { color: $text-muted; }
    """

    def __init__(self, runs: list[Run]) -> None:
        super().__init__()
        self.runs = runs

    def compose(self) -> ComposeResult:
        names = tuple(run.name for run in self.runs)
        colors = tuple(RUN_COLORS[i % len(RUN_COLORS)] for i in range(len(names)))
        with Vertical():
            yield Label(Text("Compare · " + " · ".join(names), style="bold"))
            with ScrollableContainer(id="compare-body"):  # a small terminal scrolls it, both ways
                yield Static(compare_table([run_stats(run) for run in self.runs]), id="compare-table")
                with Horizontal(id="compare-charts"):
                    yield MetricChart("test accuracy", names, colors, id="compare-accuracy")
                    yield MetricChart("train loss (mean per batch)", names, colors, id="compare-loss")
                yield Static(self._differences(), id="compare-differences")
            yield Label("arrows / pgup / pgdn scroll · escape closes", classes="hint")

    def _differences(self) -> Text:
        text = Text()
        for other in self.runs[1:]:
            text.append(f"{self.runs[0].name} → {other.name}\n", style="bold")
            for line in difference_lines(self.runs[0], other):
                text.append(f"  {line}\n")
        return text

    def on_mount(self) -> None:
        self.query_one("#compare-body").focus()
        for chart_id, metric in (("#compare-accuracy", "test_accuracy"), ("#compare-loss", "train_loss")):
            self.query_one(chart_id, MetricChart).set_data(
                {run.name: [(epoch + 1, value) for epoch, value in enumerate(run.curve(metric))] for run in self.runs})
