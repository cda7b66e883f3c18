"""SVG snapshots of the screen at 80×24 and 120×40 (pytest-textual-snapshot).

Regenerate after an intended change with `pytest tests/ui/test_snapshots.py --snapshot-update`
and look at the SVGs in __snapshots__/ before committing them.
"""

from __future__ import annotations

import math

from importlib import metadata

import pytest

from cnn_tui.core.config import TrainConfig
from cnn_tui.core.presets import preset
from cnn_tui.core.sessions import SessionStore, new_record
from cnn_tui.ui.app import CnnTuiApp
from cnn_tui.ui.training.charts import MetricChart

from .conftest import wait_for

# The SVGs are Textual's rendering: another release may draw the same screen a little
# differently. The test extra pins the libraries that draw (pyproject.toml); on any other
# release these tests fail rather than skip, and this one says why.
SNAPSHOT_TEXTUAL = "8.2.8"


def test_snapshots_are_compared_on_the_textual_they_were_made_with():
    assert metadata.version("textual") == SNAPSHOT_TEXTUAL, (
        f"snapshots were made with textual {SNAPSHOT_TEXTUAL}: install the test extra "
        "(pip install -e '.[test]'), or regenerate them with --snapshot-update and look at them")


# A finished 3-epoch session with fixed numbers, so the charts and table are the same each run.
DEMO_ROWS = [
    {"epoch": e, "total_loss": loss, "total_correct": correct, "samples": 60000, "train_accuracy": correct / 60000,
     "test_loss": tl, "test_correct": tc, "test_samples": 10000, "test_accuracy": tc / 10000,
     "seconds": 2.5, "images_per_second": 24000.0, "lr": 0.01, "batches": 600}
    for e, loss, correct, tl, tc in [(0, 349.18, 46588, 0.4878, 8237), (1, 237.44, 51229, 0.4081, 8502),
                                     (2, 213.95, 52038, 0.3884, 8592)]
]


def app(tmp_path, **kwargs) -> CnnTuiApp:
    kwargs.setdefault("config", TrainConfig())
    return CnnTuiApp(sessions_dir=str(tmp_path / "sessions"), probe_device=False, **kwargs)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_start_screen(snap_compare, tmp_path, size):
    assert snap_compare(app(tmp_path), terminal_size=size)


def test_add_layer_menu_at_80x24(snap_compare, tmp_path):
    """The menu under the selected row, scrolled to the type typed, the rows above in view."""
    assert snap_compare(app(tmp_path), terminal_size=(80, 24), press=["down", "down", "a", "l", "i"])


def test_delete_question_at_80x24(snap_compare, tmp_path):
    assert snap_compare(app(tmp_path), terminal_size=(80, 24), press=["down", "d"])


def test_training_pane_at_80x24(snap_compare, tmp_path):
    assert snap_compare(app(tmp_path), terminal_size=(80, 24), press=["v"])


async def test_invalid_kernel_at_120x40(tmp_path):
    """A kernel of 13 on a 12×12 input: the row is marked and the field keeps what was typed.
    (Checked on the widgets: its SVG differed by a space between two checkouts.)"""
    keys = ["down", "down", "down", "enter", "tab", "end", "backspace", "1", "3"]
    the_app = app(tmp_path)
    async with the_app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*keys)
        await pilot.pause(0.3)
        row = [str(c) for c in the_app.editor.table.get_row_at(3)]
        assert "✗ invalid" in row or any("✗" in c for c in row), row
        assert the_app.focused is not None and the_app.focused.value == "13"
        assert "cannot train" in str(the_app.query_one("#state").render())


def test_opened_session_at_120x40(snap_compare, tmp_path):
    store = SessionStore(tmp_path / "sessions")
    session = store.create("demo", new_record(preset("seed"), TrainConfig(epochs=3), "cpu"))
    for row in DEMO_ROWS:
        session.append_metrics(row)
    session.record.created = "2026-11-28T08:00:00+00:00"
    session.set_epochs_done(3)
    session.set_status("finished")
    session.release()  # the writer lets go, as a finished run does
    assert snap_compare(app(tmp_path, session="demo"), terminal_size=(120, 40))


SIZES = [(80, 24), (120, 40), (200, 60)]


@pytest.mark.parametrize("size", SIZES)
def test_vgg_small_editor(snap_compare, tmp_path, size):
    """Every column of vgg-small's table whole, at every size."""
    config = TrainConfig(dataset="synthetic", input_shape=(3, 32, 32))
    assert snap_compare(app(tmp_path, arch=preset("vgg-small"), arch_source="preset vgg-small", config=config),
                        terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_training_mid_epoch(snap_compare, tmp_path, size):
    """Half-way through the second epoch: the whole progress line, live loss, every column."""
    from cnn_tui.core.events import BatchProgress, EpochFinished, EpochStarted, TrainingStarted
    from cnn_tui.ui.training_controller import TrainerUpdate

    async def run_before(pilot) -> None:
        the_app = pilot.app
        the_app._run = (preset("seed"), the_app.config)
        the_app.training = True
        events = [TrainingStarted("run-demo", "cpu", "AMD EPYC (1 thread)", 0, 3, 60000, 10000, 600, 32998),
                  EpochStarted(0, 3, 600)]
        def losses(epoch: int, first: int, last: int) -> tuple[float, ...]:
            """Made-up batch losses: falling, with a wiggle (the chart draws them and their average)."""
            return tuple(0.35 + 2.0 * math.exp(-(epoch * 600 + i) / 120) + 0.08 * math.sin(i * 0.7)
                         for i in range(first, last))

        for batch in (100, 200, 300, 400, 500, 600):
            events.append(BatchProgress(0, batch, 600, batch * 100, 24000.0, (600 - batch) / 240, 0.9 - batch / 2000,
                                        batch_losses=losses(0, batch - 100, batch), first_batch=batch - 100))
        events += [EpochFinished(DEMO_ROWS[0]), EpochStarted(1, 3, 600)]
        for batch in (100, 200, 300):
            events.append(BatchProgress(1, batch, 600, batch * 100, 23456.0, 1.3, 0.45 - batch / 10000,
                                        batch_losses=losses(1, batch - 100, batch), first_batch=batch - 100))
        for event in events:
            the_app.on_trainer_update(TrainerUpdate(event))
        await pilot.pause(0.6)  # the progress line redraws at most twice a second: its next redraw
        if size[0] < 110:
            await pilot.press("v")
        await pilot.pause()
        await wait_for(pilot, lambda: all(chart.up_to_date for chart in the_app.query(MetricChart)), timeout=10)

    assert snap_compare(app(tmp_path), terminal_size=size, run_before=run_before)
