"""The loss chart: every batch's loss with a moving average over it, log y, and the epoch
under the table's cursor marked and read out."""

from __future__ import annotations

import asyncio

import pytest

from cnn_tui.core.config import TrainConfig
from cnn_tui.core.presets import preset
from cnn_tui.core.sessions import METRIC_FIELDS, SessionStore, new_record
from cnn_tui.ui.training.charts import SMOOTHING, LossChart, MetricChart, smoothed, smoothed_from, thinned
from cnn_tui.ui.training.epoch_table import EpochTable

from .conftest import notifications, small_config, wait_for


def test_smoothing_is_a_debiased_moving_average():
    assert smoothed([1.0, 3.0], 0.0) == [1.0, 3.0]
    # 0.5 weight: averages 0.5, 0.5*0.5 + 1.5 = 1.75; debiased by 1 - 0.5^k
    assert smoothed([1.0, 3.0], 0.5) == [pytest.approx(1.0), pytest.approx(1.75 / 0.75)]
    flat = smoothed([2.0] * 50, 0.99)
    assert all(v == pytest.approx(2.0) for v in flat)  # no pull towards 0 at the start


def test_batches_are_placed_by_index_so_a_repeated_chunk_changes_nothing():
    chart = LossChart()
    chart.add_batches(0, 4, 0, (1.0, 2.0))
    chart.add_batches(0, 4, 0, (1.0, 2.0))
    chart.add_batches(0, 4, 2, (3.0,))
    assert chart.batch_points() == [(0.25, 1.0), (0.5, 2.0), (0.75, 3.0)]
    chart.add_batches(1, 2, 0, (5.0, 6.0, 7.0))  # more than the epoch has: the rest is dropped
    assert chart.batch_points()[-2:] == [(1.5, 5.0), (2.0, 6.0)]


def write_session(root, name: str, epochs: int, batches: int) -> None:
    config = TrainConfig(dataset="synthetic")
    with SessionStore(root).create(name, new_record(preset("seed"), config, "cpu")) as session:
        for epoch in range(epochs):
            losses = [2.0 / (1 + epoch * batches + i) for i in range(batches)]
            row = {field: 1 for field in METRIC_FIELDS}
            row.update(epoch=epoch, batches=batches, total_loss=sum(losses), batch_losses=losses,
                       test_loss=0.5 - epoch / 10, train_accuracy=0.6 + epoch / 10, test_accuracy=0.55 + epoch / 10)
            session.append_metrics(row)
        session.set_status("finished")


async def test_a_session_shows_every_batch_smoothing_log_y_and_a_readout(make_app, tmp_path):
    write_session(tmp_path / "sessions", "run", epochs=3, batches=10)
    app = make_app(session="run", config=small_config())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        chart = app.query_one("#loss-chart", LossChart)
        assert len(chart.batch_points()) == 30 and chart.batch_points()[0] == (0.1, 2.0)
        assert chart.smoothing == SMOOTHING[1]
        app.editor.focus_layers()
        await pilot.press("plus", "plus")
        assert chart.smoothing == SMOOTHING[3]
        await pilot.press("minus", "minus", "minus", "minus")
        assert chart.smoothing == 0.0  # the raw curve alone
        assert any("smoothing 0 (raw)" in n for n in notifications(app))
        await pilot.press("y")
        assert chart.log_y
        assert chart.title_text == "loss per batch · smoothing 0 · log y"
        table = app.query_one(EpochTable)
        table.focus()
        await pilot.press("up")  # the second epoch
        await pilot.pause()
        readout = str(app.query_one("#readout").render())
        assert readout.startswith("epoch 2: train loss ") and "test loss 0.4000" in readout
        assert all(c.marked == 1 for c in app.query(MetricChart))


async def test_log_y_before_any_loss_or_with_a_zero_loss_keeps_the_app(make_app):
    # plotext fails on a log axis with nothing to draw: `y` before training ended the app.
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("y")
        await pilot.pause(0.3)
        chart = app.query_one("#loss-chart", LossChart)
        assert app.is_running and chart.log_y and "log y" in chart.title_text
        assert "cannot be drawn" not in str(chart.render())
        chart.add_batches(0, 3, 0, (1.0, 0.0, 0.5))  # a loss of exactly 0 has no place on a log axis
        chart.replot()
        await pilot.pause(0.3)
        assert app.is_running and "cannot be drawn" not in str(chart.render())


@pytest.mark.parametrize("where", ["the figure worker", "the app's process"])
async def test_a_chart_that_plotext_cannot_draw_says_so_and_the_app_goes_on(make_app, monkeypatch, where):
    from cnn_tui.ui.training import figure_worker

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        if where == "the figure worker":
            await asyncio.to_thread(figure_worker.start)
            assert figure_worker.ready()
        else:
            monkeypatch.setattr(figure_worker._worker, "ready", False)
        chart = app.query_one("#acc-chart", MetricChart)
        define = chart.define
        # plotext told something it cannot take: it raises as it builds the figure
        monkeypatch.setattr(chart, "define", lambda plt: (define(plt), plt.plot("a", "b")))
        chart.replot()
        await wait_for(pilot, lambda: chart.up_to_date, timeout=5)
        await pilot.pause()
        assert app.is_running
        assert "cannot be drawn" in chart.render_line(0).text
        assert "accuracy: cannot be drawn at this size (ValueError)" in str(chart.render())


def test_a_curve_is_thinned_to_each_bins_first_lowest_highest_and_last():
    points = [(i / 100, float(v)) for i, v in enumerate([5, 1, 9, 3] * 25)]  # 100 points, 4 bins
    thin = thinned(points, 4)
    assert len(thin) <= 16 and thin[0] == points[0] and thin[-1] == points[-1]
    assert thin == sorted(thin)  # in their order along x
    assert {y for _, y in thin} == {1.0, 3.0, 5.0, 9.0}  # every bin keeps its lowest and highest
    assert thinned(points[:16], 4) == points[:16]  # no more points than the bins keep: as they are


def test_a_live_replot_works_out_only_the_epoch_under_way(monkeypatch):
    # ten epochs of 600 batches are 6,000 points: each epoch's piece of the curves is kept
    import cnn_tui.ui.training.charts as charts

    chart = LossChart()
    for epoch in range(10):
        chart.add_batches(epoch, 600, 0, [1.0 / (epoch + 1) + (i % 7) / 50 for i in range(600)])
    chart.add_batches(10, 600, 0, [0.05] * 200)  # the eleventh epoch under way
    raw, average = chart.batch_curves(98)
    assert 0 < len(raw) <= 4 * 98 and len(average) <= 4 * 98
    smoothed_now = []
    monkeypatch.setattr(charts, "smoothed_from", lambda *a: (smoothed_now.append(a[0]), smoothed_from(*a))[1])
    chart.add_batches(10, 600, 200, [0.05] * 100)  # a second later
    chart.batch_curves(98)
    assert [len(values) for values in smoothed_now] == [300]  # the epochs before: as kept
    # the whole curve as if worked out at once, smoothed over every batch in order
    whole = chart.batch_points()
    every = list(zip([x for x, _ in whole], smoothed([y for _, y in whole], chart.smoothing)))
    assert chart.batch_curves(98)[1][-1] == pytest.approx(every[-1])
    chart.smoothing = SMOOTHING[3]  # a new smoothing: every piece again
    smoothed_now.clear()
    chart.batch_curves(98)
    assert len(smoothed_now) == 11


@pytest.mark.parametrize("log_y", [False, True])
def test_when_the_epochs_double_the_kept_pieces_are_thinned_again_as_every_batch_would_be(monkeypatch, log_y):
    # Each epoch's share of the dots halves as the epochs pass a power of two: every piece
    # was worked out again from its batches (5.8 ms at the eleventh epoch of 600 batches).
    import random

    import cnn_tui.ui.training.charts as charts

    noise = random.Random(7)
    chart = LossChart()
    chart.log_y = log_y
    smoothed_now = []
    monkeypatch.setattr(charts, "smoothed_from", lambda *a: (smoothed_now.append(a[0]), smoothed_from(*a))[1])
    for epoch in range(20):
        losses = [noise.choice([0.0, 2.0, 1 / (1 + i + epoch)]) for i in range(600)]
        losses[noise.randrange(600)] = None  # a batch never heard of
        smoothed_now.clear()
        chart.add_batches(epoch, 600, 0, losses)
        grown = chart.batch_curves(98)
        assert len(smoothed_now) == 1  # the new epoch alone, also when the bins halve (epochs 2, 3, 6, 11)
        at_once = LossChart()
        at_once.log_y, at_once.batch_losses = log_y, chart.batch_losses
        assert grown == at_once.batch_curves(98), epoch


async def test_a_long_runs_loss_chart_looks_as_it_would_with_every_batch(make_app, monkeypatch):
    import cnn_tui.ui.training.charts as charts
    from cnn_tui.benchmarks.editor_stall import made_up_epoch

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        rows = [made_up_epoch(epoch, 600) for epoch in range(10)]
        app.pane.show_epochs(rows)
        await pilot.pause(0.3)
        chart = app.query_one("#loss-chart", LossChart)
        handed = []
        plot = chart.plt.plot
        monkeypatch.setattr(chart.plt, "plot", lambda xs, ys, **k: (handed.append(len(xs)), plot(xs, ys, **k))[1])
        chart.replot()
        thin = chart.figure().text.plain.splitlines()
        assert max(handed) <= 4 * 2 * (2 * chart.size.width)  # four a bin, up to twice as many bins as dots: not 6,000
        monkeypatch.setattr(charts, "thinned", lambda points, bins: points)
        chart._pieces = {}
        chart.replot()
        every = chart.figure().text.plain.splitlines()
        cells = sum(len(line) for line in every)
        differing = sum(a != b for thin_line, line in zip(thin, every) for a, b in zip(thin_line, line))
        assert len(thin) == len(every) and differing <= 0.06 * cells, (differing, cells)


async def test_a_chart_still_building_as_the_app_ends_raises_nothing(make_app, monkeypatch):
    # Textual cancels a call from a thread that is pending as the app closes (CI caught the
    # build's thread dying of it, a traceback at exit); a closed app refuses it outright.
    import threading
    from concurrent.futures import CancelledError

    failures = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        chart = app.query_one("#acc-chart", MetricChart)
        for refusal in (CancelledError(), RuntimeError("the app is not running")):
            calls = []
            def closing(*args, refusal=refusal, calls=calls):
                calls.append(args)
                raise refusal

            monkeypatch.setattr(app, "call_from_thread", closing)
            chart.append("train", len(chart.series["train"]) + 1, 0.5)
            await pilot.pause(0.1)
            for thread in [t for t in threading.enumerate() if t.name == "chart acc-chart"]:
                thread.join(5)
            assert calls and chart._building is None  # refused: the next change builds again
    assert not failures
