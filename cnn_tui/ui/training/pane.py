"""The training pane: configuration, state, current epoch, charts and the per-epoch table."""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from ...core.config import TrainConfig
from ...core.events import BatchProgress, EpochStarted, TrainingEnded, TrainingStarted
from ...words import count
from .charts import ChartBox, LossChart, MetricChart
from .config_form import ConfigForm
from .epoch_table import EpochTable, mean_batch_loss
from .progress import EpochProgress
from .system_panel import SystemPanel

PROGRESS_HZ = 2  # progress line redraws per second
SYSTEM_HZ = 1  # system panel redraws per second
# The figures of what a run is doing right now. A paused or ended run sends no more samples:
# its last ones are from while it computed, so they are left out rather than shown as now.
ACTIVITY = ("cpu_percent", "gpus")
CHART_HZ = 1  # live loss-chart points per second

STATE_STYLES = {"idle": "dim", "training": "bold cyan", "paused": "bold yellow", "finished": "bold green",
                "stopped": "bold yellow", "failed": "bold red", "starting": "cyan", "stopping": "yellow"}


class TrainingPane(Vertical):
    """A view: the app sets what it shows (attributes down); it holds no training logic."""

    DEFAULT_CSS = """
    TrainingPane { padding: 0 0 0 1; }
    TrainingPane #training-title { height: 1; text-style: bold; }
    TrainingPane #state { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    TrainingPane #charts { height: 1fr; min-height: 6; layout: vertical; }
    TrainingPane #readout { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    class EpochsChanged(Message):
        """The finished epochs shown changed (one added, or all replaced): see `epoch_rows`."""

    def __init__(self, config: TrainConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        self.initial_config = config
        self._rows: dict[int, dict[str, Any]] = {}  # the metrics lines shown, by epoch
        self.total_epochs = config.epochs
        self.device_text = "device: auto (resolved when training starts)"
        self.gpu_total: int | None = None
        self.acknowledged = "training"  # the state the trainer last reported
        self._progress_shown = self._system_shown = self._chart_shown = 0.0
        self._pending: BatchProgress | None = None
        self._system: dict[str, Any] | None = None  # the last sample shown
        self._redraw_due = False
        self._state_shown: Text | None = None

    def compose(self) -> ComposeResult:
        yield Static("Training", id="training-title")
        yield ConfigForm(self.initial_config, id="config")
        yield Static(id="state")
        yield EpochProgress(id="progress")
        yield SystemPanel(id="system")
        with ChartBox(id="charts"):
            yield LossChart(id="loss-chart")
            yield MetricChart("accuracy", ("train", "test"), ("cyan", "orange"), id="acc-chart")
        yield Static(id="readout")
        yield EpochTable(id="epochs")

    # --- focus: the app says where, the pane knows its widgets -------------------------

    def focus_config(self) -> None:
        """The configuration's first field (the dataset)."""
        self.query_one(ConfigForm).focus_first()

    def focus_epochs(self) -> None:
        self.query_one(EpochTable).focus()

    @property
    def epochs_focused(self) -> bool:
        return self.screen.focused is self.query_one(EpochTable)

    @property
    def epoch_rows(self) -> list[dict[str, Any]]:
        """The finished epochs shown (their metrics lines, confusion matrices included), in order."""
        return [self._rows[epoch] for epoch in sorted(self._rows)]

    @property
    def selected_epoch(self) -> int | None:
        """The epoch of the table's highlighted row (0-based), if any."""
        return self.query_one(EpochTable).selected_epoch

    def on_resize(self) -> None:
        self.query_one(EpochTable).fit()  # a quarter of the terminal's rows at most

    def on_mount(self) -> None:
        self.set_state("idle", "press t to train")

    # --- what the app tells it --------------------------------------------------------

    def set_title(self, text: str) -> None:
        # One line tall whatever it says: a new title needs no layout pass (Static's update
        # asks for one, and a layout of the screen is several ms on 2 cores).
        self.query_one("#training-title", Static).update(text, layout=False)

    def set_device(self, text: str, gpu_total: int | None = None) -> None:
        self.device_text = text
        self.gpu_total = gpu_total

    def set_state(self, state: str, detail: str = "", problem: bool = False) -> None:
        """One line: the state, a detail (red when it is a problem) and the device."""
        text = Text(f"● {state} ", style=STATE_STYLES.get(state, ""))
        if detail:
            text.append("· ").append(detail, style="red" if problem else "").append(" ")
        text.append(f"· {self.device_text}", style="dim")
        if text != self._state_shown:  # an edit that leaves the state as it was redraws nothing here
            self._state_shown = text
            self.query_one("#state", Static).update(text, layout=False)  # always one row

    def started(self, event: TrainingStarted) -> None:
        self.total_epochs = event.epochs
        self.query_one(EpochTable).reserve(event.epochs)  # its epochs' ends then lay nothing out
        self.query_one(EpochProgress).make_room(event.epochs, event.batches_per_epoch)  # nor its progress lines
        self.acknowledged = "training"
        self.set_device(f"{event.device} · {event.device_name}", self.gpu_total)
        self.set_title(f"Training · session {event.session}")
        self.set_state("training", f"{event.train_samples:,} train / {event.test_samples:,} test images")
        self.query_one(EpochProgress).show_text(
            f"epoch {event.start_epoch + 1}/{event.epochs} starting · {event.batches_per_epoch} batches per epoch", done=False)

    def epoch_started(self, event: EpochStarted) -> None:
        self.query_one(EpochProgress).show_text(
            f"epoch {event.epoch + 1}/{event.epochs} · {event.batches} batches", done=False)

    def progress(self, event: BatchProgress) -> None:
        """The current batch. Redrawn at most PROGRESS_HZ times a second, so a slow SSH link
        keeps up; an event that comes sooner waits for the next redraw, which shows the
        latest one (the last batch of an epoch and a change of state are shown at once).
        Every event's batch losses are kept at once, so none is lost to the wait."""
        if event.batch_losses:
            self.loss_chart.add_batches(event.epoch, event.batches, event.first_batch, event.batch_losses)
        self._pending = event
        urgent = event.batch == event.batches or event.state != self.acknowledged
        wait = self._progress_shown + 1 / PROGRESS_HZ - time.monotonic()
        if urgent or wait <= 0:
            self._show_progress()
        elif not self._redraw_due:
            self._redraw_due = True
            self.set_timer(wait, self._show_progress)

    def _show_progress(self) -> None:
        self._redraw_due = False
        event, self._pending = self._pending, None
        if event is None:
            return
        now = self._progress_shown = time.monotonic()
        self.query_one(EpochProgress).show(event, event.epochs or self.total_epochs)
        # Every batch's loss, drawn as the epoch runs (a replot redraws the whole chart, so
        # at most CHART_HZ times a second).
        if now - self._chart_shown >= 1 / CHART_HZ or event.batch == event.batches:
            self._chart_shown = now
            self.loss_chart.replot()
        if event.system is not None and (now - self._system_shown >= 1 / SYSTEM_HZ or event.state != self.acknowledged):
            self._system_shown = now
            self._show_system(event.system, live=event.state != "paused")
        if event.state != self.acknowledged:  # the trainer confirms a pause, resume or stop
            self.acknowledged = event.state
            detail = {"paused": "p resumes", "stopping": "after the current batch"}.get(event.state, "")
            self.set_state(event.state, detail)

    def epoch_finished(self, metrics: dict[str, Any]) -> None:
        grew = self.query_one(EpochTable).add_epoch(metrics)
        self._append_charts(metrics)
        if grew:  # the frame that lays the pane out (the table is a row taller) builds no chart
            for chart in self.query(MetricChart):
                chart.hold()
                self.call_after_refresh(chart.let_go)
        self._rows[int(metrics["epoch"])] = metrics
        self.post_message(self.EpochsChanged())

    def _show_system(self, system: dict[str, Any], live: bool) -> None:
        self._system = system
        if not live:
            system = {key: value for key, value in system.items() if key not in ACTIVITY}
        self.query_one(SystemPanel).show(system)

    def ended(self, event: TrainingEnded) -> None:
        self._pending = None  # a redraw still due would draw over the end
        if self._system is not None:
            self._show_system(self._system, live=False)
        if event.status == "stopped":  # in the app's words: epochs counted from 1, as everywhere here
            detail = f"{count(event.epochs_done, 'epoch')} done; t continues from epoch {event.epochs_done + 1}"
        else:
            detail = event.reason_for("app") or count(event.epochs_done, "epoch")
        self.set_state(event.status, detail, problem=event.status == "failed")
        self.show_over(event.status, event.epochs_done)

    def show_over(self, status: str, epochs_done: int) -> None:
        """The progress line of a run that is over (just now, or a session opened): its status
        and its epochs against its target."""
        self.query_one(EpochProgress).release_room()
        self.query_one(EpochProgress).show_text(
            f"{status} · {epochs_done}/{self.total_epochs} epochs done", done=status == "finished")

    def show_epochs(self, rows: list[dict[str, Any]]) -> None:
        """Replace the table and charts with a session's finished epochs."""
        self._show_table(rows)
        self._show_loss(rows)
        self._show_accuracy(rows)

    async def show_epochs_in_frames(self, rows: list[dict[str, Any]], next_frame: Callable[[], Awaitable[Any]]) -> None:
        """show_epochs over several frames (on 2 cores the table and each chart are 5-9 ms to
        draw, all in one frame ~25 ms): room for the rows where the table needs another
        height (the charts resize: a layout pass), then the rows, then the loss chart's data
        and the accuracy chart's, each drawn once its figure is built. Until its data comes,
        each chart shows the figure it had: none is built for the old data at its new size."""
        charts = list(self.query(MetricChart))
        for chart in charts:
            chart.hold()
        try:
            if self.query_one(EpochTable).make_room(len(rows)):
                await next_frame()
            self._show_table(rows)
            await next_frame()
            self._show_loss(rows)
            await next_frame()
            self._show_accuracy(rows)
        finally:
            for chart in charts:
                chart.let_go()

    def _show_table(self, rows: list[dict[str, Any]]) -> None:
        self._rows = {int(r["epoch"]): r for r in rows}
        self.post_message(self.EpochsChanged())
        self.query_one(EpochTable).set_epochs(rows)

    def _show_loss(self, rows: list[dict[str, Any]]) -> None:
        self.loss_chart.set_batches(rows)
        self.loss_chart.set_data(
            {"train": [(r["epoch"] + 1, mean_batch_loss(r)) for r in rows],
             "test": [(r["epoch"] + 1, r["test_loss"]) for r in rows]})

    def _show_accuracy(self, rows: list[dict[str, Any]]) -> None:
        self.query_one("#acc-chart", MetricChart).set_data(
            {"train": [(r["epoch"] + 1, r["train_accuracy"]) for r in rows],
             "test": [(r["epoch"] + 1, r["test_accuracy"]) for r in rows]})

    def _append_charts(self, m: dict[str, Any]) -> None:
        x = m["epoch"] + 1  # epochs counted from 1: epoch 0 ends at x = 1
        loss = self.loss_chart
        if m.get("batch_losses"):  # the whole epoch, as written (a watcher may have missed some live)
            loss.add_batches(m["epoch"], len(m["batch_losses"]), 0, m["batch_losses"])
        loss.series["train"].append((x, mean_batch_loss(m)))
        loss.append("test", x, m["test_loss"])
        acc = self.query_one("#acc-chart", MetricChart)
        acc.append("train", x, m["train_accuracy"])
        acc.append("test", x, m["test_accuracy"])

    @property
    def loss_chart(self) -> LossChart:
        return self.query_one("#loss-chart", LossChart)

    def change_smoothing(self, step: int) -> float:
        """More (+1) or less (-1) smoothing of the per-batch loss curve; the weight now."""
        return self.loss_chart.change_smoothing(step)

    def toggle_log_loss(self) -> bool:
        """The loss chart's y axis logarithmic or linear; True when logarithmic now."""
        return self.loss_chart.toggle_log()

    def on_epoch_table_row_highlighted(self, event: EpochTable.RowHighlighted) -> None:
        """The epoch table's cursor marks its epoch on both charts and reads its values out."""
        epoch = self.query_one(EpochTable).selected_epoch
        for chart in self.query(MetricChart):
            chart.mark(epoch)
        row = self._rows.get(epoch) if epoch is not None else None
        readout = self.query_one("#readout", Static)
        if row is None:
            readout.update("", layout=False)
            return
        readout.update(Text(f"epoch {epoch + 1}: train loss {mean_batch_loss(row):.4f} · test loss "
                            f"{row['test_loss']:.4f} · train acc. {row['train_accuracy']:.4f} · test acc. "
                            f"{row['test_accuracy']:.4f}", style="dim"), layout=False)

    @property
    def config_form(self) -> ConfigForm:
        return self.query_one(ConfigForm)

