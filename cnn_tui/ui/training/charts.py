"""Live charts (textual-plotext). Series live in plain lists of points; replot() has the figure
defined from them and built off the event loop (by the figure worker, a process of its own),
and the chart drawn again once it is."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import CancelledError
from dataclasses import dataclass
from typing import Any
from weakref import WeakSet

from rich.text import Text
from textual import events
from textual.app import RenderResult
from textual.containers import Container
from textual.geometry import Region, Size
from textual.screen import Screen
from textual.strip import Strip
from textual.visual import Visual, visualize
from textual_plotext import PlotextPlot

from ..unscrolled import WithoutScrollbars
from . import figure_worker

DESCRIBE_AFTER = 1 / 60  # seconds after the frame that showed a chart's new data (see _build_due)

# Screens on which a chart is being built: one at a time, the next chart due waits for it
# (two threads building at once took the interpreter from the event loop more often).
_BUILDING: WeakSet[Screen] = WeakSet()


class QuickSwitches:
    """While a chart is built in a thread, the event loop gets the interpreter back after
    SWITCH of the build's time instead of Python's 5 ms: a key or a frame that comes during a
    build waited up to 5 ms each time it needed the interpreter (live-chart redraws, 15-23 ms
    at the median, were 9-13 ms with 1 ms, on 2 cores). Python's own interval is back once
    no build is running, so nothing else (a run training in the app) switches more often."""

    SWITCH = 0.001  # seconds
    _lock = threading.Lock()
    _builds = 0
    _before = 0.005

    @classmethod
    def begin(cls) -> None:
        """A build is about to start (called before its thread starts: a new thread runs
        first, for up to the interval then in force)."""
        with cls._lock:
            if not cls._builds:
                cls._before = sys.getswitchinterval()
                sys.setswitchinterval(min(cls.SWITCH, cls._before))
            cls._builds += 1

    @classmethod
    def end(cls) -> None:
        """A build is over (from any thread)."""
        with cls._lock:
            cls._builds -= 1
            if not cls._builds:
                sys.setswitchinterval(cls._before)


class PlotextCalls:
    """Stands in for plotext while a chart says what its figure is (`define`): the calls are
    kept, with the data as it was then, to be made on plotext in the thread that builds it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self.calls.append((name, args, kwargs))


@dataclass(frozen=True)
class Figure:
    """A chart as built: for what (size, theme, data version), as text and as lines drawn."""

    key: tuple
    text: Text
    lines: list[Strip]


def epoch_ticks(plt, last: float) -> None:
    """Whole epochs only on the x axis, at most ~8 ticks, up to the epoch `last` falls in."""
    if last:
        epochs = list(range(1, int(last + 0.999) + 1))
        plt.xticks(epochs[:: max(1, len(epochs) // 8)])


class ChartBox(WithoutScrollbars, Container):
    """The charts, one above the other."""


class MetricChart(WithoutScrollbars, PlotextPlot):
    """One chart of named series of (x, y) points; x counts epochs from 1 (x = 2.5: half-way
    through the third epoch), so live points and per-epoch points share one axis.

    plotext builds the figure only when the data, the size or the theme changed since it was
    last built, and off the event loop: a build is pure Python, 5-30 ms on 2 cores, and on
    the loop it held every key and frame behind it (a live loss chart once a second). A thread
    hands it to the figure worker, a process of its own (`figure_worker`), and waits; until
    the worker is ready the thread builds it itself, sharing the interpreter with the loop,
    which then waits at most 1 ms at a time for it (QuickSwitches). Meanwhile the chart shows
    the figure it has, cropped or padded to its size.
    - A build starts once the chart's size is settled (not in the frame that resized it,
      when the epoch table grew or the terminal was resized) and its data is not on its way.
    - One chart of a screen is built at a time; the next one due starts when it is done.
    - New data does not draw the chart: it is drawn when its new figure is there. (Drawing
      the old one again took 2-4 ms of the frame that drew an epoch's new row.)
    - A chart not on screen (the other pane shown, a dialog over it) builds when it is drawn.
    - The first figure, and `figure()` called directly, are built at once.
    """

    DEFAULT_CSS = """
    MetricChart { height: 1fr; min-height: 6; }
    """

    def __init__(self, title: str, series: tuple[str, ...], colors: tuple[str, ...], **kwargs) -> None:
        super().__init__(**kwargs)
        self.chart_title = title
        self.series: dict[str, list[tuple[float, float]]] = {name: [] for name in series}
        self.series_colors = dict(zip(series, colors))
        self.marked: int | None = None  # an epoch to draw a line at
        self._version = 0  # counts the figure's redefinitions
        self._figure: Figure | None = None  # the last one built
        self._shown: list[Strip] = []  # the lines drawn in this frame
        self._settled_size: Size | None = None  # the size of the last Resize handled
        self._held = False  # see hold()
        self._plotext = threading.Lock()  # one build at a time uses the chart's plotext figure
        self._building: tuple | None = None  # the key of the figure being built in a thread
        self._due = False  # a look for a build to start is on its way (see _build_due)

    def on_mount(self) -> None:
        super().on_mount()
        self.replot()

    def set_data(self, series: dict[str, list[tuple[float, float]]]) -> None:
        for name in self.series:
            self.series[name] = list(series.get(name, []))
        self._held = False
        self.replot()

    def append(self, name: str, x: float, y: float) -> None:
        self.series[name].append((x, y))
        self._held = False
        self.replot()

    def replot(self) -> None:
        """What the chart shows changed: its figure is defined and built again after the
        frame under way (so the changes of one turn of the loop make one figure)."""
        self._version += 1
        self._build_due()

    def _build_due(self) -> None:
        """Start the build of the figure for now after the frame under way, if the chart may
        then (see the class): the first figure is drawn at once instead, as it is built. The
        frame's layout settles the chart's size; the figure is described DESCRIBE_AFTER
        later, not straight after the frame (as the screen's callbacks run), so that keys
        and frames due meanwhile go first (the loss chart's curves are 1-3 ms after a frame
        of 4-5 ms; its build takes 10-30 ms more, off the loop, anyway)."""
        if self._figure is None:
            self.refresh()
        elif not self._due:
            self._due = True
            self.call_after_refresh(self.set_timer, DESCRIBE_AFTER, self._start_due_build)

    def _start_due_build(self) -> None:
        self._due = False
        if self.is_mounted and self.screen.is_active:  # under a dialog: built as the screen is drawn again
            self._start_build()

    def define(self, plt) -> None:
        """The figure, told to plotext: the series, and a line at the marked epoch."""
        plt.title(self.chart_title)
        plt.xlabel("epoch")
        epoch_ticks(plt, max((points[-1][0] for points in self.series.values() if points), default=0.0))
        for name, points in self.series.items():
            if points:
                plt.plot([x for x, _ in points], [y for _, y in points], label=name,
                         color=self.series_colors[name], marker="braille")
        if self.marked is not None:
            plt.vline(self.marked + 1, "gray")

    def hold(self) -> None:
        """Keep showing the figure drawn, whatever the size or the marked epoch, until new
        data comes (set_data, append) or `let_go()`: new data is on its way, and a figure
        built before it would be built for nothing."""
        self._held = True

    def let_go(self) -> None:
        """Build the figure again as it changes (see hold)."""
        if self._held:
            self._held = False
            self._build_due()

    def _key(self) -> tuple:
        return (self.size, self.app.theme, self._version)

    def figure(self) -> Figure:
        """The figure for the data, size and theme now, built (here and now) if it is not."""
        key = self._key()
        if self._figure is None or self._figure.key != key:
            self._figure = self._figure_of(key, self._build(*self._plan()))
        return self._figure

    @property
    def up_to_date(self) -> bool:
        """Whether the figure shown is the one for the data, size and theme now (not while a
        build is on its way)."""
        return self._figure is not None and self._figure.key == self._key()

    def _plan(self) -> tuple[list[tuple[str, tuple, dict]], Size, str]:
        """What plotext is to be told, at what size, in which of its themes: worked out on the
        event loop, from the data as it is now."""
        calls = PlotextCalls()
        self.define(calls)
        return calls.calls, self.size, self._get_plotext_theme_name(self.app.theme)

    def _build(self, calls: list[tuple[str, tuple, dict]], size: Size, theme: str, elsewhere: bool = False) -> Text:
        """plotext's figure as text (in any thread): what textual-plotext's render does, for
        the size and theme given rather than the widget's now. `elsewhere`: by the figure
        worker (waiting for it here), if it is ready."""
        try:
            if elsewhere:
                try:
                    return figure_worker.build_elsewhere(calls, size, theme)
                except figure_worker.WorkerGone:  # not started yet, or stopped: built here
                    pass
            with self._plotext:
                return figure_worker.build(self.plt, calls, size, theme)
        except Exception as exc:  # noqa: BLE001 - plotext's own failure: say so, keep the app
            return Text(f"{self.chart_title}: cannot be drawn at this size ({type(exc).__name__})",
                        style="dim", no_wrap=True, overflow="ellipsis")

    def _figure_of(self, key: tuple, text: Text) -> Figure:
        width, height = key[0]
        return Figure(key, text, Visual.to_strips(self, visualize(self, text), width, height, self.visual_style))

    def _build_in_thread(self) -> None:
        """Start building the figure for the data, size and theme now, from a thread (by the
        figure worker if it is ready); it is shown when it is done (`_built`)."""
        key, screen = self._key(), self.screen
        self._building = key
        _BUILDING.add(screen)
        plan = self._plan()

        def build() -> None:
            try:
                text = self._build(*plan, elsewhere=True)
            finally:
                QuickSwitches.end()
            try:
                self.app.call_from_thread(self._built, key, text, screen)
            except (RuntimeError, CancelledError):  # the app has ended, or is ending, meanwhile
                self._building = None  # no event loop left to race with
                _BUILDING.discard(screen)

        QuickSwitches.begin()
        threading.Thread(target=build, name=f"chart {self.id}", daemon=True).start()

    def _built(self, key: tuple, text: Text, screen: Screen) -> None:
        self._building = None
        _BUILDING.discard(screen)
        if key == self._key() and self.is_mounted:
            self._figure = self._figure_of(key, text)
            self.refresh()
        for chart in screen.query(MetricChart):  # this one, changed meanwhile, and any other waiting for its turn
            if not chart.up_to_date:
                chart._build_due()

    def render(self) -> RenderResult:
        return self.figure().text

    def render_lines(self, crop: Region) -> list[Strip]:
        self._shown = self._lines_for_this_frame()
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        if y < len(self._shown):
            return self._shown[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)

    def _lines_for_this_frame(self) -> list[Strip]:
        shown = self._figure
        if shown is None or shown.key == self._key():
            return self.figure().lines  # nothing shown yet, or nothing changed
        self._start_build()  # a chart drawn again before its build was due: on screen again, resized
        # the figure drawn, cropped or padded to the size
        width, height = self.size
        style = self.visual_style.rich_style
        lines = [line.crop_extend(0, width, style) for line in shown.lines[:height]]
        return lines + [Strip.blank(width, style)] * (height - len(lines))

    def _start_build(self) -> None:
        """A build of the figure for now in a thread, if it is out of date and may start:
        the chart's size settled, its data not on its way, no chart of its screen building."""
        settled = not self._held and self.size == self._settled_size  # held: new data asks; resized: on_resize
        if (settled and not self.up_to_date and self._building is None
                and self.screen not in _BUILDING):
            self._build_in_thread()

    def on_resize(self, event: events.Resize) -> None:
        """Handled after the frame that drew the new size: the figure for it comes next."""
        if self._settled_size != self.size:
            self._settled_size = self.size
            if self._figure is not None and not self.up_to_date:
                self._build_due()

    def mark(self, epoch: int | None) -> None:
        """A line at the end of `epoch` (counted from 0), or none."""
        if epoch != self.marked:
            self.marked = epoch
            self.replot()


SMOOTHING = (0.0, 0.6, 0.9, 0.97, 0.99)  # weights of the moving average, as TensorBoard offers them


def smoothed(values: list[float], weight: float) -> list[float]:
    """An exponential moving average, debiased at the start (TensorBoard's smoothing): each
    value is weight × the previous average + (1 − weight) × itself."""
    return smoothed_from(values, weight, (0.0, 0))[0]


def smoothed_from(values: list[float], weight: float, state: tuple[float, int]) -> tuple[list[float], tuple[float, int]]:
    """`smoothed` going on from `state` (the average and the count of values before these),
    and the state after them: a curve can be smoothed a piece at a time."""
    out, (average, k) = [], state
    for k, value in enumerate(values, start=k + 1):
        average = weight * average + (1 - weight) * value
        out.append(average / (1 - weight**k) if weight else value)
    return out, (average, k)


def thinned(points: list[tuple[float, float]], bins: int) -> list[tuple[float, float]]:
    """At most four points per bin of x: each bin's first, lowest, highest and last, in
    their order.

    The chart draws a line from each point to the next, so within a bin the curve covers
    what lies between its lowest and highest point, and it enters and leaves the bin at its
    first and last: with a bin per column of dots, the same figure (within a dot where
    plotext's columns and the bins do not line up) for far less work. plotext's time grows
    with the points: one epoch's 600 batches took 16 ms to build at 49 columns on 2 cores,
    ten epochs 90 ms."""
    if len(points) <= 4 * bins:
        return points
    return _binned(points, bins)


def _binned(points: list[tuple[float, float]], bins: int) -> list[tuple[float, float]]:
    """`thinned`'s bins, however few the points. Bins nest: thinning to `bins` what was
    thinned to a multiple of them (a power of two, over the same first and last x) gives
    what thinning every point does, each bin's first, lowest, highest and last being among
    those of the finer bins inside it."""
    left, right = points[0][0], points[-1][0]
    scale = bins / ((right - left) or 1.0)
    out: list[tuple[float, float]] = []
    at, first, low, high = 0, 0, 0, 0  # the bin, and the indices of its first, lowest and highest point
    for i in range(1, len(points)):
        x, y = points[i]
        b = min(bins - 1, int((x - left) * scale))
        if b != at:
            out += [points[j] for j in sorted({first, low, high, i - 1})]
            at, first, low, high = b, i, i, i
        elif y < points[low][1]:
            low = i
        elif y > points[high][1]:
            high = i
    return out + [points[j] for j in sorted({first, low, high, len(points) - 1})]


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
        # Each epoch's piece of the per-batch curves as last drawn, by epoch: (what it was
        # worked out for, raw points, smoothed points, the smoothing's state after it).
        self._pieces: dict[int, tuple[tuple, list, list, tuple[float, int], tuple[int, int]]] = {}

    def add_batches(self, epoch: int, batches: int, first: int, losses: tuple[float, ...] | list[float]) -> None:
        """Losses of batches `first`, `first` + 1, ... of `epoch` (placed by index: a chunk
        that comes twice changes nothing)."""
        slots = self.batch_losses.get(epoch)
        if slots is None or len(slots) != batches:
            slots = self.batch_losses[epoch] = [None] * batches
        slots[first:first + len(losses)] = list(losses)[: max(0, batches - first)]
        self._pieces.pop(epoch, None)

    def set_batches(self, rows: list[dict]) -> None:
        """Every batch of these epochs (metrics rows), in place of what was shown."""
        self.batch_losses = {r["epoch"]: list(r["batch_losses"]) for r in rows if r.get("batch_losses")}
        self._pieces = {}

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

    @property
    def title_text(self) -> str:
        """What the chart draws, its smoothing and its scale."""
        words = ["loss per batch" if self.batch_losses else "loss (mean per batch)"]
        if self.batch_losses:
            words.append(f"smoothing {self.smoothing:g}")
        if self.log_y:
            words.append("log y")
        return " · ".join(words)

    def batch_curves(self, dots: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """The per-batch curve and its moving average, as drawn `dots` across (see `thinned`),
        with only losses above 0 on a log axis.

        Worked out an epoch at a time, and each epoch's piece kept until its batches, the
        smoothing or the scale change, or an epoch before it does: a live run's replot works
        out the epoch under way (0.4 ms half-way through the eleventh epoch of 600 batches
        on 2 cores, against 7.4 ms for every batch). When its share of the dots halves, a
        kept piece is thinned again from what it kept."""
        epochs = sorted(self.batch_losses)
        # Each epoch's share of the dots, rounded up to a power of two: the pieces are thinned
        # again when the number of epochs doubles, not at each new epoch.
        bins = 1 << (max(1, dots // max(1, len(epochs))) - 1).bit_length()
        state: tuple[float, int] = (0.0, 0)
        raw: list[tuple[float, float]] = []
        average: list[tuple[float, float]] = []
        pieces = {}
        for epoch in epochs:
            wanted = (bins, self.smoothing, self.log_y, state)
            piece = self._pieces.get(epoch)
            if piece is not None and piece[0][1:] == wanted[1:] and piece[0][0] > bins:
                # the epochs grew past a power of two: coarser bins, from the kept finer ones
                # (5-9 ms for ten epochs of 600 batches on 2 cores, against well under 1)
                (_, raw_kept, smooth_kept, after, counts) = piece
                piece = (wanted, self._coarser(raw_kept, counts[0], bins), self._coarser(smooth_kept, counts[1], bins),
                         after, counts)
            if piece is None or piece[0] != wanted:
                slots = self.batch_losses[epoch]
                points = [(epoch + (i + 1) / len(slots), v) for i, v in enumerate(slots) if v is not None]
                values, after = smoothed_from([y for _, y in points], self.smoothing, state)
                smooth = list(zip([x for x, _ in points], values))
                if self.log_y:  # a log axis shows only losses above 0
                    points, smooth = self._positive(points), self._positive(smooth)
                piece = (wanted, thinned(points, bins), thinned(smooth, bins), after, (len(points), len(smooth)))
            pieces[epoch] = piece
            raw += piece[1]
            average += piece[2]
            state = piece[3]
        self._pieces = pieces
        return raw, average

    @staticmethod
    def _coarser(curve: list[tuple[float, float]], points: int, bins: int) -> list[tuple[float, float]]:
        """A piece's curve, kept thinned to finer bins, thinned to `bins` as its `points`
        themselves would be (kept whole if no more than 4 a bin; see `_binned`)."""
        return _binned(curve, bins) if points > 4 * bins else curve

    def define(self, plt) -> None:
        plt.title(self.title_text)
        plt.xlabel("epoch")
        dots = 2 * max(1, self.size.width)  # braille: two dots a column
        raw, average = self.batch_curves(dots)
        test = self.series["test"]
        ends = [line[-1][0] for line in (raw, *self.series.values()) if line]  # any point of the last epoch will do
        epoch_ticks(plt, max(ends, default=0.0))
        shown = self._positive if self.log_y else list  # a log axis shows only losses above 0
        curves: list[tuple[list[tuple[float, float]], dict]] = []
        if raw or average:
            if self.smoothing:
                curves.append((raw, {"color": "gray"}))  # the raw curve, faint behind
            curves.append((average, {"label": "train", "color": "cyan"}))
        elif self.series["train"]:
            curves.append((thinned(shown(self.series["train"]), dots), {"label": "train", "color": "cyan"}))
        if test:
            curves.append((thinned(shown(test), dots), {"label": "test", "color": "orange"}))
        if self.log_y and any(curve for curve, _ in curves):  # plotext fails on a log axis with no data
            plt.yscale("log")
        for curve, style in curves:
            if curve:
                plt.plot([x for x, _ in curve], [y for _, y in curve], marker="braille", **style)
        if self.marked is not None:
            plt.vline(self.marked + 1, "gray")
