"""Live charts (textual-plotext). Series live in plain lists of points; replot() draws them."""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot


def epoch_ticks(plt, last: float) -> None:
    """Whole epochs only on the x axis, at most ~8 ticks, up to the epoch `last` falls in."""
    if last:
        epochs = list(range(1, int(last + 0.999) + 1))
        plt.xticks(epochs[:: max(1, len(epochs) // 8)])


class MetricChart(PlotextPlot):
    """One chart of named series of (x, y) points; x counts epochs from 1 (x = 2.5: half-way
    through the third epoch), so live points and per-epoch points share one axis."""

    DEFAULT_CSS = """
    MetricChart { height: 1fr; min-height: 6; }
    """

    def __init__(self, title: str, series: tuple[str, ...], colors: tuple[str, ...], **kwargs) -> None:
        super().__init__(**kwargs)
        self.chart_title = title
        self.series: dict[str, list[tuple[float, float]]] = {name: [] for name in series}
        self.series_colors = dict(zip(series, colors))
        self.marked: int | None = None  # an epoch to draw a line at
        self._built: tuple[tuple, RenderResult] | None = None  # (size and theme, the figure drawn)

    def on_mount(self) -> None:
        super().on_mount()
        self.replot()

    def set_data(self, series: dict[str, list[tuple[float, float]]]) -> None:
        for name in self.series:
            self.series[name] = list(series.get(name, []))
        self.replot()

    def append(self, name: str, x: float, y: float) -> None:
        self.series[name].append((x, y))
        self.replot()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.chart_title)
        plt.xlabel("epoch")
        epoch_ticks(plt, max((points[-1][0] for points in self.series.values() if points), default=0.0))
        for name, points in self.series.items():
            if points:
                plt.plot([x for x, _ in points], [y for _, y in points], label=name,
                         color=self.series_colors[name], marker="braille")
        if self.marked is not None:
            plt.vline(self.marked + 1, "gray")
        self.figure_changed()

    def figure_changed(self) -> None:
        """The figure was redefined: build it again when next drawn."""
        self._built = None
        self.refresh()

    def render(self) -> RenderResult:
        """The figure as text, built by plotext (a few ms) only when the figure, the size or
        the theme changed since the last time: a screen drawn again after a dialog closes, or
        a neighbour's change, reuses it."""
        key = (self.size, self.app.theme)
        if self._built is None or self._built[0] != key:
            try:
                figure = super().render()
            except Exception as exc:  # noqa: BLE001 - plotext's own failure: say so, keep the app
                self.log.error(f"{self.chart_title} chart: {type(exc).__name__}: {exc}")
                figure = Text(f"{self.chart_title}: cannot be drawn at this size ({type(exc).__name__})",
                              style="dim", no_wrap=True, overflow="ellipsis")
            self._built = (key, figure)
        return self._built[1]

    def mark(self, epoch: int | None) -> None:
        """A line at the end of `epoch` (counted from 0), or none."""
        if epoch != self.marked:
            self.marked = epoch
            self.replot()


SMOOTHING = (0.0, 0.6, 0.9, 0.97, 0.99)  # weights of the moving average, as TensorBoard offers them


def smoothed(values: list[float], weight: float) -> list[float]:
    """An exponential moving average, debiased at the start (TensorBoard's smoothing): each
    value is weight × the previous average + (1 − weight) × itself."""
    out, average = [], 0.0
    for k, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        out.append(average / (1 - weight**k) if weight else value)
    return out


class LossChart(MetricChart):
    """The loss: every batch's mean loss (faint) with its moving average over it, the test
    loss per epoch, and the train loss per epoch where a session has no per-batch losses
    (runs from before they were recorded). `smoothing` and `log_y` change the drawing only;
    `marked` draws a line at the end of an epoch (the epoch table's cursor)."""

    def __init__(self, **kwargs) -> None:
        super().__init__("loss", ("train", "test"), ("cyan", "orange"), **kwargs)
        self.batch_losses: dict[int, list[float | None]] = {}  # epoch -> each batch's loss, None until known
        self.smoothing = SMOOTHING[1]
        self.log_y = False
        self.marked: int | None = None
        self.title_text = ""

    def add_batches(self, epoch: int, batches: int, first: int, losses: tuple[float, ...] | list[float]) -> None:
        """Losses of batches `first`, `first` + 1, ... of `epoch` (placed by index: a chunk
        that comes twice changes nothing)."""
        slots = self.batch_losses.get(epoch)
        if slots is None or len(slots) != batches:
            slots = self.batch_losses[epoch] = [None] * batches
        slots[first:first + len(losses)] = list(losses)[: max(0, batches - first)]

    def set_batches(self, rows: list[dict]) -> None:
        """Every batch of these epochs (metrics rows), in place of what was shown."""
        self.batch_losses = {r["epoch"]: list(r["batch_losses"]) for r in rows if r.get("batch_losses")}

    def batch_points(self) -> list[tuple[float, float]]:
        """(x, loss) of every known batch: batch i of n in epoch e at x = e + (i + 1) / n."""
        points = []
        for epoch in sorted(self.batch_losses):
            slots = self.batch_losses[epoch]
            points += [(epoch + (i + 1) / len(slots), v) for i, v in enumerate(slots) if v is not None]
        return points

    def change_smoothing(self, step: int) -> float:
        at = min(range(len(SMOOTHING)), key=lambda i: abs(SMOOTHING[i] - self.smoothing))
        self.smoothing = SMOOTHING[max(0, min(len(SMOOTHING) - 1, at + step))]
        self.replot()
        return self.smoothing

    @staticmethod
    def _positive(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(x, y) for x, y in points if y > 0]

    def toggle_log(self) -> bool:
        self.log_y = not self.log_y
        self.replot()
        return self.log_y

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        words = ["loss per batch" if self.batch_losses else "loss (mean per batch)"]
        if self.batch_losses:
            words.append(f"smoothing {self.smoothing:g}")
        if self.log_y:
            words.append("log y")
        self.title_text = " · ".join(words)
        plt.title(self.title_text)
        plt.xlabel("epoch")
        points = self.batch_points()
        test = self.series["test"]
        epoch_ticks(plt, max([x for x, _ in points[-1:]] + [line[-1][0] for line in self.series.values() if line],
                             default=0.0))
        shown = self._positive if self.log_y else list  # a log axis shows only losses above 0
        curves: list[tuple[list[tuple[float, float]], dict]] = []
        if points:
            if self.smoothing:
                curves.append((points, {"color": "gray"}))  # the raw curve, faint behind
                points = list(zip([x for x, _ in points], smoothed([y for _, y in points], self.smoothing)))
            curves.append((points, {"label": "train", "color": "cyan"}))
        elif self.series["train"]:
            curves.append((self.series["train"], {"label": "train", "color": "cyan"}))
        if test:
            curves.append((test, {"label": "test", "color": "orange"}))
        curves = [(shown(curve), style) for curve, style in curves]
        if self.log_y and any(curve for curve, _ in curves):  # plotext fails on a log axis with no data
            plt.yscale("log")
        for curve, style in curves:
            if curve:
                plt.plot([x for x, _ in curve], [y for _, y in curve], marker="braille", **style)
        if self.marked is not None:
            plt.vline(self.marked + 1, "gray")
        self.figure_changed()
