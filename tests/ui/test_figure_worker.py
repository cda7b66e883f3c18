"""The figure worker: the charts' figures built in a process of its own, the same as the app
would build them, and built in the app again when the worker stops or stops answering."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import pytest
from textual_plotext.plot import Plot

from cnn_tui.ui.training import figure_worker
from cnn_tui.ui.training.charts import LossChart, MetricChart

from .conftest import wait_for


@pytest.fixture
def worker(monkeypatch):
    """A worker of the test's own (the one the apps share is left as it is), stopped after."""
    own = figure_worker._Worker()
    monkeypatch.setattr(figure_worker, "_worker", own)
    yield own
    own.lock.acquire(timeout=5)
    own._stop()


def spans(text) -> list:
    return [(span.start, span.end, str(span.style)) for span in text.spans]


async def test_the_worker_builds_each_chart_as_the_app_would(make_app, worker):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await asyncio.to_thread(figure_worker.start)
        assert figure_worker.ready()
        loss = app.query_one(LossChart)
        loss.add_batches(0, 600, 0, [1 / (1 + i / 100) for i in range(600)])
        loss.set_data({"train": [(1, 0.8)], "test": [(1, 0.9)]})
        app.query_one("#acc-chart", MetricChart).set_data({"train": [(1, 0.6)], "test": [(1, 0.7)]})
        for chart in app.query(MetricChart):
            calls, size, theme = chart._plan()  # the app's own theme, registered in this process
            assert theme.startswith("textual-")
            there = figure_worker.build_elsewhere(calls, tuple(size), theme)
            here = figure_worker.build(Plot(), calls, tuple(size), theme)
            assert there.plain == here.plain and spans(there) == spans(here)
            assert len(there.plain.splitlines()) == size.height and chart.chart_title in there.plain.splitlines()[0]


async def test_a_worker_that_stops_leaves_the_figures_to_the_app(make_app, worker):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await asyncio.to_thread(figure_worker.start)
        worker.process.kill()
        chart = app.query_one("#acc-chart", MetricChart)
        chart.append("test", 1.0, 0.5)
        await wait_for(pilot, lambda: chart.up_to_date, timeout=10)
        assert not figure_worker.ready()
        assert chart._figure.text.plain == chart._build(*chart._plan()).plain  # as built here
        chart.append("test", 2.0, 0.6)  # and from now on built here at once
        await wait_for(pilot, lambda: chart.up_to_date, timeout=10)
        assert app.is_running


async def test_a_worker_that_does_not_answer_is_stopped_and_the_figure_built_in_the_app(make_app, worker, monkeypatch):
    monkeypatch.setattr(figure_worker, "LONGEST_BUILD", 0.5)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await asyncio.to_thread(figure_worker.start)
        process = worker.process
        os.kill(process.pid, signal.SIGSTOP)  # alive, and answering nothing
        chart = app.query_one("#acc-chart", MetricChart)
        chart.append("test", 1.0, 0.5)
        await wait_for(pilot, lambda: chart.up_to_date, timeout=10)
        assert not figure_worker.ready() and process.poll() is not None  # stopped for good


def test_the_worker_is_out_of_the_terminals_reach_and_ends_when_the_app_does(worker):
    figure_worker.start()
    process = worker.process
    assert figure_worker.ready()
    assert os.getsid(process.pid) == process.pid != os.getsid(0)  # ctrl-c, a hang-up: the app's to handle
    process.stdin.close()  # as when the app's process ends
    assert process.wait(timeout=10) == 0


def test_a_worker_that_cannot_start_leaves_the_figures_to_the_app(worker, monkeypatch):
    monkeypatch.setattr(figure_worker.sys, "executable", "/nonexistent/python")
    figure_worker.start()
    assert not figure_worker.ready()
    with pytest.raises(figure_worker.WorkerGone):
        figure_worker.build_elsewhere([], (40, 10), "pro")


def test_a_worker_that_never_says_it_is_ready_is_stopped(worker, monkeypatch, tmp_path):
    silent = tmp_path / "silent.py"
    silent.write_text("import time\ntime.sleep(120)\n")
    monkeypatch.setattr(figure_worker, "LONGEST_BUILD", 0.5)
    monkeypatch.setattr(figure_worker, "__name__", "silent")  # `python -m silent` from tmp_path
    monkeypatch.chdir(tmp_path)
    starting = threading.Thread(target=figure_worker.start, daemon=True)
    starting.start()
    starting.join(5)
    assert not starting.is_alive()  # it gave up on the worker, instead of reading from it for good
    assert not figure_worker.ready() and worker.process.poll() is not None
