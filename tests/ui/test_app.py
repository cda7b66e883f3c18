"""The app driven as a user drives it: keys in, screen and disk out."""

from __future__ import annotations

import json

from cnn_tui.core.events import EpochFinished, TrainingEnded
from cnn_tui.core.sessions import SessionStore
from cnn_tui.core.spec import LAYER_TYPES
from cnn_tui.ui.training_controller import TrainerUpdate
from cnn_tui.ui.editor.layer_table import LayerTable
from cnn_tui.ui.training.charts import MetricChart
from cnn_tui.ui.training.epoch_table import EpochTable

from .conftest import cell, notifications, small_config, train_to_the_end, wait_for


async def test_editing_a_kernel_updates_every_shape_below(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(LayerTable)
        assert cell(table, 3, 3) == "12×8×8" and cell(table, 6, 3) == "192"
        await pilot.press("down", "down", "down", "enter", "tab")  # conv 6→12, then its kernel_size
        assert app.focused.key == ((3,), "conv2d", "kernel_size")
        await pilot.press("end", "backspace", "3")
        await pilot.pause()
        assert cell(table, 3, 3) == "12×10×10"
        assert cell(table, 5, 3) == "12×5×5"
        assert cell(table, 6, 3) == "300"
        assert cell(table, 7, 4) == f"{300 * 120 + 120:,}"
        assert "valid" in str(app.query_one("#editor-error").render())


async def test_invalid_input_marks_the_row_and_refuses_training(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("down", "down", "down", "enter")  # out_channels of layer 3
        await pilot.press("end", "backspace", "backspace", "x")
        await pilot.pause()
        table = app.query_one(LayerTable)
        assert "invalid" in cell(table, 3, 3)
        assert cell(table, 6, 3) == "?"  # below the error: unknown
        error = str(app.query_one("#editor-error").render())
        assert "layer 3 (conv2d): out_channels must be an integer, got 'x'" in error
        field = app.editor.form.input_for("out_channels")
        assert field.has_class("-invalid") and field.value == "x"  # what was typed is kept
        await pilot.press("escape", "t")
        await pilot.pause()
        assert not app.training
        assert any("out_channels must be an integer" in n for n in notifications(app))
        assert "cannot train" in str(app.query_one("#state").render())
        assert not (tmp_path / "sessions").exists()
        # fixing it re-enables training
        await pilot.press("enter", "end", "backspace", "8")
        await pilot.pause()
        assert cell(table, 3, 3) == "8×8×8" and app.arch_error is None


async def test_kernel_larger_than_input_and_class_mismatch_are_explained(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("down", "down", "down", "enter", "tab", "end", "backspace", "1", "3")
        await pilot.pause()
        assert "kernel 13×13 is larger than its padded input 12×12" in app.arch_error
        await pilot.press("backspace", "backspace", "5", "escape")
        for _ in range(8):
            await pilot.press("down")
        await pilot.press("enter", "end", "backspace", "backspace", "7")
        await pilot.pause()
        assert app.arch_error == "layer 11 (linear): outputs 7 features but synthetic has 10 classes; set out_features to 10"


async def test_train_two_epochs_shows_rows_charts_and_writes_a_session(make_app, tmp_path):
    messages = []
    app = make_app()
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await train_to_the_end(pilot, app)
        await pilot.pause()
        assert app.query_one(EpochTable).row_count == 2
        assert len(app.query_one("#loss-chart", MetricChart).series["test"]) == 2
        assert len(app.query_one("#acc-chart", MetricChart).series["test"]) == 2
        assert "finished" in str(app.query_one("#state").render())
    events = [m.event for m in messages if isinstance(m, TrainerUpdate)]
    assert sum(isinstance(e, EpochFinished) for e in events) == 2
    assert isinstance(events[-1], TrainingEnded) and events[-1].status == "finished"
    infos, problems = SessionStore(tmp_path / "sessions").list()
    assert problems == [] and len(infos) == 1
    assert infos[0].status == "finished" and infos[0].epochs_done == 2


async def test_stop_mid_run_then_reopen_and_continue(make_app, tmp_path):
    app = make_app(config=small_config(epochs=30, train_size=3000))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("t")
        await wait_for(pilot, lambda: app.query_one(EpochTable).row_count >= 1)
        await pilot.press("p")
        assert app.control.paused and "paused" in str(app.query_one("#state").render())
        await pilot.press("p", "s")
        await wait_for(pilot, lambda: not app.training)
        await app.workers.wait_for_complete()
        done = app.query_one(EpochTable).row_count
        assert 1 <= done < 30
        name = app.session_name
    store = SessionStore(tmp_path / "sessions")
    session = store.open(name)
    assert session.status == "stopped" and len(session.read_metrics()[0]) == done

    app = make_app(session=name, config=small_config(epochs=30, train_size=3000))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.query_one(EpochTable).row_count == done
        assert len(app.query_one("#loss-chart", MetricChart).series["train"]) == done
        assert app.editor.draft.layers == session.record.architecture["layers"]
        epochs = app.query_one("#cfg-epochs")
        epochs.value = str(done + 1)  # continue for one more epoch
        await pilot.pause()
        await train_to_the_end(pilot, app)
        assert app.query_one(EpochTable).row_count == done + 1
    rows, _ = store.open(name).read_metrics()
    assert [r["epoch"] for r in rows] == list(range(done + 1))
    assert store.open(name).status == "finished"


async def test_open_session_with_the_o_key_and_damaged_ones_are_skipped(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await train_to_the_end(pilot, app)
        name = app.session_name
    broken = tmp_path / "sessions" / "broken"
    broken.mkdir()
    (broken / "session.json").write_text("{ not json")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("o")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "SessionsScreen")
        await pilot.pause()
        assert any("broken/session.json" in str(label.render()) for label in app.screen.query(".note"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.session_name == name, timeout=10)
        assert app.query_one(EpochTable).row_count == 2
        assert str(app.query_one("#progress-text").render()) == "finished · 2/2 epochs done"  # as it ended


async def test_quit_mid_epoch_leaves_a_resumable_session(make_app, tmp_path):
    app = make_app(config=small_config(epochs=50, train_size=6000))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("t")
        await wait_for(pilot, lambda: app.query_one(EpochTable).row_count >= 1)
        name = app.session_name
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, timeout=30)
    session = SessionStore(tmp_path / "sessions").open(name)
    assert session.status == "stopped"
    assert session.load_checkpoint().epoch == len(session.read_metrics()[0]) >= 1


async def test_add_delete_move_duplicate_layers_by_key(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(LayerTable)
        await pilot.press("a")
        await pilot.pause()
        for _ in range(list(LAYER_TYPES).index("batchnorm2d")):
            await pilot.press("down")
        await pilot.press("enter")
        await pilot.pause()
        assert table.row_count == 13 and cell(table, 1, 1) == "batchnorm2d" and cell(table, 1, 4) == "12"
        await pilot.press("d", "y")
        await pilot.pause()
        assert table.row_count == 12 and app.editor.draft.layers[1] == {"type": "relu"}
        await pilot.press("c")
        await pilot.pause()
        assert table.row_count == 13 and app.editor.draft.layers[2] == {"type": "relu"}
        await pilot.press("d", "y")  # the copy goes; the cursor lands on the maxpool below it
        await pilot.press("right_square_bracket")  # maxpool moves below the second conv
        await pilot.pause()
        assert [layer["type"] for layer in app.editor.draft.layers[:4]] == ["conv2d", "relu", "conv2d", "maxpool2d"]
        assert cell(table, 2, 3) == "12×20×20"
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert [layer["type"] for layer in app.editor.draft.layers[:4]] == ["conv2d", "relu", "maxpool2d", "conv2d"]
        assert app.editor.summary.ok


async def test_bad_configuration_is_marked_and_refused(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_one("#cfg-lr").value = "fast"
        await pilot.pause()
        assert app.query_one("#cfg-lr").has_class("-invalid")
        await pilot.press("escape", "t")
        await pilot.pause()
        assert not app.training and any("lr must be a positive number" in n for n in notifications(app))


async def test_missing_dataset_is_a_notice_and_the_app_stays_usable(make_app, tmp_path):
    from cnn_tui.core.config import TrainConfig

    app = make_app(config=TrainConfig(dataset="fashion-mnist", data_dir=str(tmp_path / "none"), epochs=1))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("t")
        await wait_for(pilot, lambda: not app.training)
        await pilot.pause()
        assert any("set --data-dir or $CNN_TUI_DATA" in n and "train offline with data synthetic" in n
                   for n in notifications(app))  # the app names its own field (data), a flag where it has none
        assert "not found" in str(app.query_one("#state").render())
        await pilot.press("down")  # still alive and editable
        assert app.query_one(LayerTable).cursor_row == 1
    assert SessionStore(tmp_path / "sessions").list() == ([], [])  # refused: no failed session left behind


async def test_save_session_and_write_architecture(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("enter")  # the offered name
        await pilot.pause()
        name = app.session_name
        assert name and name.startswith("draft-")
        await pilot.press("w")
        await pilot.pause()
        path = tmp_path / "net.json"
        app.screen.query_one("#text").value = str(path)
        await pilot.press("enter")
        await pilot.pause()
    assert json.loads(path.read_text())["layers"][0] == {"type": "conv2d", "out_channels": 6, "kernel_size": 5}
    session = SessionStore(tmp_path / "sessions").open(name)
    assert session.status == "stopped" and "not trained yet" in session.record.reason


async def test_help_and_narrow_layout(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.screen.has_class("-narrow")
        assert app.query_one("#training").display is False or not app.query_one("#training").region.width
        await pilot.press("v")
        await pilot.pause()
        assert app.query_one("#training").region.width > 0
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.__class__.__name__ != "HelpScreen"


async def test_tiny_and_huge_terminals_do_not_crash(make_app):
    for size in ((60, 20), (200, 60), (40, 12)):
        app = make_app()
        async with app.run_test(size=size) as pilot:
            await pilot.press("down", "enter", "tab", "v", "escape")
            await pilot.pause()
            assert app.is_running


async def test_device_probe_shows_what_auto_picks(make_app):
    import torch

    app = make_app(probe_device=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "auto →" in str(app.query_one("#state").render()), timeout=20)
        expected = "cuda" if torch.cuda.is_available() else "cpu"
        assert f"auto → {expected}" in str(app.query_one("#state").render())


async def test_changed_settings_train_a_new_session_instead_of_continuing(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await train_to_the_end(pilot, app)
        first = app.session_name
        app.query_one("#cfg-epochs").value = "3"
        app.query_one("#cfg-lr").value = "0.001"
        await pilot.pause()
        await train_to_the_end(pilot, app)
        assert app.session_name != first
        assert any(f"settings differ from session {first}" in n for n in notifications(app)), notifications(app)
    store = SessionStore(tmp_path / "sessions")
    assert len(store.open(first).read_metrics()[0]) == 2  # the first run is untouched
    assert store.open(app.session_name).record.config["lr"] == 0.001


async def test_mixed_precision_is_chosen_in_the_form_and_trained_with(make_app, tmp_path):
    from dataclasses import replace

    from textual.widgets import Select

    from cnn_tui.ui.training.config_form import ConfigForm

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        amp = app.query_one("#amp", Select)
        assert amp.value == "off" and app.config.amp is None
        amp.value = "bf16"
        await pilot.pause()
        assert app.config.amp == "bf16"
        await pilot.press("escape", "t")
        await wait_for(pilot, lambda: app.query_one(EpochTable).row_count >= 2, timeout=60)
        await wait_for(pilot, lambda: not app.training)
        await app.workers.wait_for_complete()
        name = app.session_name
        app.query_one(ConfigForm).load(replace(app.config, amp=None))  # a session that trained in float32
        await pilot.pause()
        assert amp.value == "off" and app.config.amp is None
    session = SessionStore(tmp_path / "sessions").open(name)
    assert session.config.amp == "bf16" and session.status == "finished"


async def test_a_paused_run_shows_no_speed_it_has_not_measured_nor_cpu_use_from_before(make_app):
    # Paused before an epoch's first batch, the trainer's report holds zeros (no images
    # timed, no loss yet) and the last CPU sample was taken while it computed.
    from cnn_tui.core.events import BatchProgress

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = app.pane
        system = {"device": "cpu", "threads": 2, "cpu_percent": 190.0, "rss_bytes": 800_000_000}
        pane.progress(BatchProgress(2, 300, 600, 30_000, 41_000.0, 0.7, 0.3321, epochs=5, system=system))
        await pilot.pause()
        assert "41,000 img/s" in str(app.query_one("#progress-text").render())
        assert "CPU 190%" in str(app.query_one("#system").render())
        pane.progress(BatchProgress(3, 0, 600, 0, 0.0, 0.0, 0.0, state="paused", epochs=5, system=system))
        await pilot.pause()
        assert str(app.query_one("#progress-text").render()) == "epoch 4/5 · batch 0/600 · not started"
        shown = str(app.query_one("#system").render())
        assert "CPU" not in shown and "RAM 800.0 MB" in shown
        pane.progress(BatchProgress(3, 10, 600, 1_000, 40_000.0, 1.5, 0.31, epochs=5, system=system))
        await pilot.pause()
        assert "CPU 190%" in str(app.query_one("#system").render())  # resumed: sampled again
        pane.ended(TrainingEnded("stopped", epochs_done=3))
        await pilot.pause()
        assert "CPU" not in str(app.query_one("#system").render())
