"""Per-epoch charts (textual-plotext). Series live in plain lists; replot() draws them."""

from __future__ import annotations

from textual_plotext import PlotextPlot


class MetricChart(PlotextPlot):
    """One chart of named per-epoch series, e.g. train and test loss."""

    DEFAULT_CSS = """
    MetricChart { height: 1fr; min-height: 6; }
    """

    def __init__(self, title: str, series: tuple[str, ...], colors: tuple[str, ...], **kwargs) -> None:
        super().__init__(**kwargs)
        self.chart_title = title
        self.series: dict[str, list[float]] = {name: [] for name in series}
        self.series_colors = dict(zip(series, colors))
        self.first_epoch = 0

    def on_mount(self) -> None:
        super().on_mount()
        self.replot()

    def set_data(self, series: dict[str, list[float]], first_epoch: int = 0) -> None:
        for name in self.series:
            self.series[name] = list(series.get(name, []))
        self.first_epoch = first_epoch
        self.replot()

    def append(self, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.series[name].append(value)
        self.replot()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.chart_title)
        plt.xlabel("epoch")
        longest = max((len(values) for values in self.series.values()), default=0)
        if longest:
            epochs = list(range(self.first_epoch, self.first_epoch + longest))
            step = max(1, longest // 8)  # whole epochs only, at most ~8 ticks
            plt.xticks(epochs[::step])
        for name, values in self.series.items():
            if values:
                plt.plot(epochs[: len(values)], values, label=name, color=self.series_colors[name], marker="braille")
        self.refresh()  # the widget rebuilds the figure, in the app's theme, on render
