"""Helpers for driving the app as a person would (Pilot), on small synthetic data."""

from __future__ import annotations

import asyncio

import pytest

from cnn_tui.core.config import TrainConfig
from cnn_tui.ui.app import CnnTuiApp
from cnn_tui.ui.keybar import KeyBar


def small_config(**changes) -> TrainConfig:
    values = dict(dataset="synthetic", epochs=2, train_size=600, test_size=100, batch_size=50)
    values.update(changes)
    return TrainConfig(**values)


@pytest.fixture
def make_app(tmp_path):
    def make(**kwargs) -> CnnTuiApp:
        kwargs.setdefault("config", small_config())
        kwargs.setdefault("sessions_dir", str(tmp_path / "sessions"))
        kwargs.setdefault("probe_device", False)
        app = CnnTuiApp(**kwargs)
        app.notices = []  # every notice shown, including those already timed out
        shown = app.notify

        def notify(message, *args, **kw):
            app.notices.append(message)
            return shown(message, *args, **kw)

        app.notify = notify
        return app

    return make


def notifications(app: CnnTuiApp) -> list[str]:
    """Every notice the app has shown (a slow machine can outlast a notice's timeout)."""
    return list(getattr(app, "notices", [n.message for n in app._notifications]))


async def wait_for(pilot, condition, timeout: float = 60.0) -> None:
    """Let the app run until `condition()` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


async def train_to_the_end(pilot, app: CnnTuiApp) -> None:
    """Press t and let the run finish, worker included."""
    await pilot.press("t")
    await wait_for(pilot, lambda: not app.training)
    await app.workers.wait_for_complete()


def cell(table, row: int, column: int) -> str:
    return str(table.get_row_at(row)[column])


def shown_descriptions(app) -> list[str]:
    return [key.description for key in app.query_one(KeyBar).keys]


def count_layouts(screen) -> list[int]:
    """Counts the layout passes of `screen` from now on (one item per pass)."""
    passes: list[int] = []
    refresh_layout = screen._refresh_layout
    screen._refresh_layout = lambda *a, **k: (passes.append(1), refresh_layout(*a, **k))[1]
    return passes


def calls_of(monkeypatch, owner: type, method: str) -> list:
    """The widgets `owner.method` is called on from now on, in order (it still runs)."""
    called: list = []
    original = getattr(owner, method)
    monkeypatch.setattr(owner, method, lambda self, *a, **k: (called.append(self), original(self, *a, **k))[1])
    return called


def record_renders(monkeypatch) -> list:
    """Every widget drawn from now on, in order (Textual draws each widget a frame touches)."""
    from textual.widget import Widget

    return calls_of(monkeypatch, Widget, "render_lines")
