"""Comparing and exporting sessions from the app's sessions list (`o`, then `c` or `e`)."""

from __future__ import annotations

import json

from cnn_tui.core.config import TrainConfig
from cnn_tui.core.presets import preset
from cnn_tui.core.sessions import METRIC_FIELDS, SessionStore, new_record
from cnn_tui.core.spec import Architecture
from cnn_tui.ui.screens.compare import ChooseRunsScreen, CompareScreen
from cnn_tui.ui.training.charts import MetricChart

from .conftest import notifications, wait_for


def make_session(root, name: str, arch: Architecture, accuracies: list[float], **config) -> None:
    """A finished session with made-up epochs: what the list, compare and export read."""
    with SessionStore(root).create(name, new_record(arch, TrainConfig(dataset="synthetic", **config), "cpu")) as session:
        for epoch, accuracy in enumerate(accuracies):
            row = {field: 1 for field in METRIC_FIELDS}
            row.update(epoch=epoch, test_accuracy=accuracy, train_accuracy=accuracy, total_loss=4 * (1 - accuracy),
                       batches=4, test_loss=1 - accuracy, seconds=1.5)
            session.append_metrics(row)
        session.set_status("finished")


def sessions(tmp_path):
    root = tmp_path / "sessions"
    wider = preset("seed").to_dict()
    wider["layers"][3]["out_channels"] = 16
    make_session(root, "base", preset("seed"), [0.5, 0.7, 0.8])
    make_session(root, "wider", Architecture.from_dict(wider), [0.6, 0.85], lr=0.005)
    return root


async def test_compare_two_sessions_from_the_list(make_app, tmp_path):
    sessions(tmp_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("o")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "SessionsScreen")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ChooseRunsScreen))
        await pilot.press("c")  # one marked: not enough
        await pilot.pause()
        assert isinstance(app.screen, ChooseRunsScreen)
        assert any("mark two sessions or more" in n for n in notifications(app))
        await pilot.press("space", "c")  # the cursor starts on the next session: space marks it
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        screen = app.screen
        assert {run.name for run in screen.runs} == {"base", "wider"}
        accuracy = screen.query_one("#compare-accuracy", MetricChart)
        assert sorted(len(points) for points in accuracy.series.values()) == [2, 3]
        text = str(screen.query_one("#compare-differences").render())
        assert "layer 3 conv2d: out_channels" in text and "lr" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, CompareScreen)


async def test_export_a_session_from_the_list(make_app, tmp_path, monkeypatch):
    sessions(tmp_path)
    monkeypatch.chdir(tmp_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("o")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "SessionsScreen")
        name = app.screen.query_one("OptionList").get_option_at_index(0).id
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("down", "enter")  # json
        await pilot.pause()
        await pilot.press("enter")  # the offered file name
        await wait_for(pilot, lambda: (tmp_path / f"{name}.json").exists())
        await app.workers.wait_for_complete()
        written = json.loads((tmp_path / f"{name}.json").read_text())
        assert Architecture.from_dict(written).layers == SessionStore(tmp_path / "sessions").open(name).architecture.layers
        assert any(f"wrote {name}.json" in n for n in notifications(app))
        # a folder that does not exist: said, nothing written, the app goes on
        await pilot.press("o")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "SessionsScreen")
        await pilot.press("e", "enter")
        await pilot.pause()
        app.screen.query_one("Input").value = "no/such/folder/x.py"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert any("the folder no/such/folder does not exist" in n for n in notifications(app))
