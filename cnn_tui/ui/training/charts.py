"""Live charts (textual-plotext). Series live in plain lists of points; replot() draws them."""

from __future__ import annotations

from textual_plotext import PlotextPlot


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
        last = max((points[-1][0] for points in self.series.values() if points), default=0.0)
        if last:
            epochs = list(range(1, int(last + 0.999) + 1))
            step = max(1, len(epochs) // 8)  # whole epochs only, at most ~8 ticks
            plt.xticks(epochs[::step])
        for name, points in self.series.items():
            if points:
                plt.plot([x for x, _ in points], [y for _, y in points], label=name,
                         color=self.series_colors[name], marker="braille")
        self.refresh()  # the widget rebuilds the figure, in the app's theme, on render
