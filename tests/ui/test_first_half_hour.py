"""A new user's first half hour: each test replays one rough edge a person met."""

from __future__ import annotations

import json

import pytest

from cnn_tui.core.presets import preset
from cnn_tui.core.sessions import SessionStore
from cnn_tui.ui.app import CnnTuiApp
from cnn_tui.ui.editor.layer_table import LayerTable
from cnn_tui.ui.training.epoch_table import EpochTable

from .conftest import cell, notifications, small_config, train_to_the_end, wait_for


def title(app: CnnTuiApp) -> str:
    return str(app.query_one("#editor-title").render())


async def accept_prompt(pilot, app, value: str | None = None) -> None:
    """Confirm the modal that is showing, optionally typing `value` into its input first."""
    await wait_for(pilot, lambda: app.screen.is_modal, timeout=5)
    if value is not None:
        app.screen.query_one("Input").value = value
    await pilot.press("enter")
    await pilot.pause()


# --- 1. a crash after save, and a crash that exits 0 ---------------------------------------


async def test_train_save_then_train_again_starts_a_clean_table(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await train_to_the_end(pilot, app)
        first = app.session_name
        await pilot.press("escape", "ctrl+s")
        await accept_prompt(pilot, app)
        saved = app.session_name
        assert saved != first
        # The pane shows the saved session: no epochs yet, so no rows from the run before.
        assert app.query_one(EpochTable).row_count == 0
        assert "0 epochs" in str(app.query_one("#state").render())
        await train_to_the_end(pilot, app)
        assert app.is_running and app.query_one(EpochTable).row_count == 2
    assert len(SessionStore(tmp_path / "sessions").open(saved).read_metrics()[0]) == 2


async def test_a_row_shown_twice_replaces_itself(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(EpochTable)
        row = {"epoch": 0, "total_loss": 30.0, "total_correct": 500, "samples": 600, "train_accuracy": 0.8,
               "test_loss": 0.5, "test_accuracy": 0.7, "seconds": 1.0, "batches": 12}
        table.add_epoch(row)
        table.add_epoch({**row, "total_correct": 550})
        await pilot.pause()
        assert table.row_count == 1 and cell(table, 0, 1) == "550"


def test_an_app_that_dies_exits_non_zero(monkeypatch, tmp_path):
    from cnn_tui.ui import app as app_module

    def boom(self):
        raise RuntimeError("a bug in a widget")

    monkeypatch.setattr(app_module.CnnTuiApp, "on_mount", boom)
    monkeypatch.setattr(app_module.CnnTuiApp, "run", lambda self, **kw: _run_headless(self))
    code = app_module.run_app(sessions_dir=str(tmp_path))
    assert code == 1


def _run_headless(app):
    import asyncio

    async def go():
        async with app.run_test(size=(80, 24)):
            pass

    try:
        asyncio.run(go())
    except Exception:
        pass  # run_test re-raises; `run()` would have printed it


async def test_a_huge_number_in_a_field_is_a_notice_not_an_exit(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")  # out_channels of layer 0
        app.focused.value = "9" * 306
        await pilot.pause()
        assert app.is_running
        await pilot.press("down")
        assert app.is_running


async def test_a_deeply_nested_file_is_a_notice_not_an_exit(make_app, tmp_path):
    path = tmp_path / "deep.json"
    depth = 5000
    path.write_text('{"input": [1, 28, 28], "layers": [' + '{"type": "residual", "layers": [' * depth
                    + "]}" * depth + "]}")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("l")
        await accept_prompt(pilot, app, str(path))
        prompt = app.screen
        await wait_for(pilot, lambda: "deep.json" in prompt.problem, timeout=10)  # said in the prompt, still open
        assert app.is_running and app.screen is prompt
        await pilot.press("escape")
        await pilot.pause()
        assert app.editor.draft.layers[0]["type"] == "conv2d"  # the draft is untouched


# --- 3. the header names what was opened --------------------------------------------------


@pytest.mark.parametrize("source", ["preset lenet5", "preset vgg-small", "net.json"])
async def test_the_header_names_the_architecture_opened(make_app, source):
    arch = preset(source.split()[-1]) if source.startswith("preset") else preset("seed")
    app = make_app(arch=arch, arch_source=source)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert f"Architecture · {source}" in title(app)
        assert "seed" not in title(app)


# --- 7. narrow terminals: what you act on is what you see ---------------------------------


def visible(app, widget) -> bool:
    return widget.region.area > 0 and bool(widget.display)


async def test_narrow_t_shows_the_training_it_starts(make_app):
    app = make_app(config=small_config(epochs=1))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        await pilot.pause()
        assert visible(app, app.query_one("#training")) and visible(app, app.focused)
        await wait_for(pilot, lambda: not app.training)
        await app.workers.wait_for_complete()


async def test_narrow_watch_shows_the_run_and_opening_a_finished_session_keeps_the_editor(tmp_path):
    # `cnn-tui watch` on an 80-column login opened on the architecture: the run it was
    # started for was one key (v) away. Leaving as soon as the run shows also closes the app
    # with the opened session's configuration changes still queued: they used to find the
    # panes gone (NoMatches, a traceback).
    from cnn_tui.core.config import TrainConfig
    from cnn_tui.core.trainer import train

    store = SessionStore(tmp_path)
    train(preset("seed"), TrainConfig(dataset="synthetic", train_size=200, test_size=50, epochs=1), store, "done")
    app = CnnTuiApp(session="done", sessions_dir=str(tmp_path), watch=True, probe_device=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "finished" in str(app.query_one("#state").render()))
        assert visible(app, app.query_one("#training")) and not visible(app, app.editor)
        assert isinstance(app.focused, EpochTable)
    app = CnnTuiApp(session="done", sessions_dir=str(tmp_path), probe_device=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert visible(app, app.editor) and not visible(app, app.query_one("#training"))


async def test_narrow_escape_in_a_training_field_stays_in_training(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("v")
        await pilot.pause()
        assert app.focused.id == "dataset"  # v lands on the first training field, not on nothing
        app.query_one("#cfg-lr").focus()
        await pilot.press("escape")
        await pilot.pause()
        assert visible(app, app.query_one("#training")) and visible(app, app.focused)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_v_reaches_the_training_fields_in_one_key(make_app, size):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await pilot.press("v")
        await pilot.pause()
        assert app.focused.id == "dataset" and visible(app, app.focused)
        await pilot.press("v")
        await pilot.pause()
        assert app.focused.id == "layers" and visible(app, app.focused)
        for _ in range(12):  # tab never lands on something hidden
            await pilot.press("tab")
            await pilot.pause()
            assert visible(app, app.focused), app.focused


# --- 8. writing files ---------------------------------------------------------------------


async def test_write_to_a_missing_folder_creates_nothing_and_says_what_to_do(make_app, tmp_path):
    target = tmp_path / "nonexistent" / "dir" / "a.json"
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("w")
        await accept_prompt(pilot, app, str(target))
        assert not (tmp_path / "nonexistent").exists()
        messages = notifications(app)
        assert not any(m.startswith("wrote") for m in messages)
        assert any("does not exist" in m and "create it first" in m for m in messages)


async def test_write_asks_before_replacing_and_remembers_the_path(make_app, tmp_path):
    target = tmp_path / "a.json"
    target.write_text("keep me")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("w")
        await accept_prompt(pilot, app, str(target))
        assert app.screen.is_modal  # asks first
        await pilot.press("n")
        await pilot.pause()
        assert target.read_text() == "keep me"
        await pilot.press("w")
        await wait_for(pilot, lambda: app.screen.is_modal, timeout=5)
        assert app.screen.query_one("Input").value == str(target)  # the last path is offered
        await pilot.press("enter", "y")
        await pilot.pause()
        assert json.loads(target.read_text())["layers"][0]["type"] == "conv2d"


# --- 10. losing edits ---------------------------------------------------------------------


async def test_delete_asks_and_undo_redo_bring_layers_back(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(LayerTable)
        await pilot.press("d", "n")
        await pilot.pause()
        assert table.row_count == 12
        await pilot.press("d", "y")
        await pilot.pause()
        assert table.row_count == 11 and app.editor.draft.layers[0]["type"] == "relu"
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert table.row_count == 12 and app.editor.draft.layers[0]["out_channels"] == 6
        await pilot.press("ctrl+y")
        await pilot.pause()
        assert table.row_count == 11


async def test_typing_in_a_field_is_one_undo_step(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter", "1", "6", "escape")
        await pilot.pause()
        assert app.editor.draft.layers[0]["out_channels"] == 16
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert app.editor.draft.layers[0]["out_channels"] == 6
        assert cell(app.query_one(LayerTable), 0, 3) == "6×24×24"


async def test_r_and_q_ask_when_there_are_unsaved_edits(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("q")  # nothing edited: quits at once
        await pilot.pause()
        assert not app.is_running
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c", "r")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ConfirmScreen"
        await pilot.press("n", "q")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ConfirmScreen" and app.is_running
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and len(app.editor.draft.layers) == 13


# --- 11. field editing --------------------------------------------------------------------


async def test_enter_then_typing_replaces_the_value(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter", "3")  # out_channels 6 -> 3, not 36
        await pilot.pause()
        assert app.editor.draft.layers[0]["out_channels"] == 3


async def test_an_emptied_required_field_does_not_show_its_old_value(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter", "backspace")
        await pilot.pause()
        table = app.query_one(LayerTable)
        assert "invalid" in cell(table, 0, 3)
        assert "6" not in cell(table, 0, 2) and "out_channels" in cell(table, 0, 2)


# --- 12. words ----------------------------------------------------------------------------


async def test_pause_message_and_singular_words(make_app):
    # Long enough (~3 s warm) that the keys below land while it trains.
    app = make_app(config=small_config(epochs=1, train_size=20000, batch_size=10))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "press t to train" in str(app.query_one("#state").render()))  # ready
        await pilot.press("t")
        await wait_for(pilot, lambda: app.training and app.control is not None)
        await pilot.press("p", "t")  # paused (before or during its first batch), then t again
        await pilot.pause()
        assert "paused: p resumes, s stops" in notifications(app)[-1]
        await pilot.press("p")
        await wait_for(pilot, lambda: not app.training)
        await app.workers.wait_for_complete()
        await pilot.pause()
        state = str(app.query_one("#state").render())
        assert "1 epoch" in state and "1 epochs" not in state
    app = make_app(arch=_one_linear(), arch_source="one.json")
    async with app.run_test(size=(120, 40)) as pilot:
        totals = str(app.query_one("#totals").render())
        assert "1 layer " in totals and "1 layers" not in totals


def _one_linear():
    from cnn_tui.core.spec import Architecture

    return Architecture.from_dict({"layers": [{"type": "flatten"}, {"type": "linear", "out_features": 10}]})


async def test_a_batch_larger_than_the_data_is_said(make_app):
    app = make_app(config=small_config(epochs=1, batch_size=5000))
    async with app.run_test(size=(120, 40)) as pilot:
        await train_to_the_end(pilot, app)
        assert any("batch: 5000 is more than the 600 training images" in n for n in notifications(app))


async def test_help_hides_the_notices_and_the_state_line_never_wraps(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.notify("something went wrong " * 5, severity="error")
        await pilot.press("question_mark")
        await pilot.pause()
        assert not app._notifications
        await pilot.press("escape", "v")
        app.pane.set_state("idle", "a very long reason " * 10, problem=True)
        await pilot.pause()
        assert app.query_one("#state").region.height == 1


# --- 13. threads --------------------------------------------------------------------------


async def test_the_threads_field(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        field = app.query_one("#cfg-threads")
        assert field.value == "" and app.config.threads is None  # empty: chosen from the free cores
        field.value = "1"
        await pilot.pause()
        assert app.config.threads == 1
        field.value = "0"
        await pilot.pause()
        assert app.config_error == "threads: must be from 1 to 4096, got 0"  # the field, not --threads
        field.value = ""
        await pilot.pause()
        assert app.config_error is None and app.config.threads is None


# --- 5 and 6. one way to count epochs, one way to show the loss ---------------------------


async def test_loss_is_drawn_per_batch_live_and_epochs_count_from_one(make_app, tmp_path):
    from cnn_tui.ui.training.charts import LossChart

    app = make_app(config=small_config(epochs=2, train_size=15000, batch_size=20))
    async with app.run_test(size=(120, 40)) as pilot:
        chart = app.query_one("#loss-chart", LossChart)
        await pilot.press("t")
        await wait_for(pilot, lambda: chart.batch_points())
        assert app.query_one(EpochTable).row_count == 0  # drawn during the first epoch
        x, y = chart.batch_points()[0]
        assert x == 1 / 750 and 0 < y < 10  # the first batch's mean loss, at its place in epoch 1
        await wait_for(pilot, lambda: not app.training, timeout=120)
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.query_one(EpochTable)
        rows, _ = SessionStore(tmp_path / "sessions").open(app.session_name).read_metrics()
        assert [cell(table, r, 0) for r in range(2)] == ["1", "2"]
        assert cell(table, 1, 2) == f"{rows[1]['total_loss'] / rows[1]['batches']:.4f}"
        header = [table.render_line(y).text.split() for y in range(2)]  # two lines, as drawn
        assert header == [["epoch", "train", "mean", "train", "test"], ["correct", "loss", "acc.", "acc.", "sec"]]
        assert chart.series["train"][-1] == (2, pytest.approx(rows[1]["total_loss"] / rows[1]["batches"], rel=1e-6))
        # every batch of both epochs, as the session keeps them
        assert [y for _, y in chart.batch_points()] == rows[0]["batch_losses"] + rows[1]["batch_losses"]


async def test_a_stop_is_told_in_epochs_counted_from_one(make_app):
    app = make_app(config=small_config(epochs=30, train_size=3000))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("t")
        await wait_for(pilot, lambda: app.query_one(EpochTable).row_count >= 1)
        await pilot.press("s")
        await wait_for(pilot, lambda: not app.training)
        await app.workers.wait_for_complete()
        await pilot.pause()
        done = app.query_one(EpochTable).row_count
        state = str(app.query_one("#state").render())
        progress = str(app.query_one("#progress-text").render())
        assert f"{done}/30" in progress
        assert f"from epoch {done + 1}" in state, state


# --- 2. every column visible -----------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)])
async def test_vgg_small_shows_every_column_whole(make_app, size):
    app = make_app(arch=preset("vgg-small"), arch_source="preset vgg-small",
                   config=small_config(input_shape=(3, 32, 32)))
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        table = app.query_one(LayerTable)
        assert table.scrollable_content_region.width >= table.wanted_width
        assert table.max_scroll_x == 0


async def test_columns_shrink_back_and_end_keeps_the_layer_in_view(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(LayerTable)
        before = list(table.column_widths)
        await pilot.press("enter", "tab", "tab", "tab", "1", "2", "3", "4", "5", "6", "7")  # padding of layer 0
        await pilot.pause()
        assert table.column_widths[2] > before[2]
        for _ in range(7):
            await pilot.press("backspace")
        await pilot.press("0", "escape")
        await pilot.pause()
        assert table.column_widths == before
        await pilot.press("enter", "tab", "tab", "tab", "1", "2", "3", "4", "5", "escape", "c")
        await pilot.press("ctrl+z", "ctrl+z")  # the copy and the long padding undone: rows rebuilt
        await pilot.pause()
        assert app.editor.draft.layers[0].get("padding", 0) == 0 and table.row_count == 12
        assert table.column_widths == before
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_row == table.row_count - 1 and table.scroll_x == 0


# --- a very long architecture never holds the screen still ------------------------------------


async def test_a_long_architecture_is_shown_whole_at_once(make_app):
    from cnn_tui.core.spec import Architecture

    n = 3001
    layers = [{"type": "flatten"}] + [{"type": "linear", "out_features": 10}] * (n - 1)
    arch = Architecture.from_dict({"input": [1, 28, 28], "layers": layers})
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await app.editor.load(arch, "long.json")
        table = app.query_one(LayerTable)
        assert table.row_count == n and cell(table, n - 1, 3) == "10"  # every row, no filling frame by frame
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_row == n - 1 and table.scroll_y == table.max_scroll_y


# --- 9. sessions: rename and delete from the app ------------------------------------------------


async def test_rename_and_delete_a_session_from_the_list(make_app, tmp_path):
    from cnn_tui.core.config import TrainConfig
    from cnn_tui.core.sessions import new_record

    store = SessionStore(tmp_path / "sessions")
    store.create("draft-a", new_record(preset("seed"), TrainConfig(), "cpu"))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("o")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "SessionsScreen", timeout=10)
        await pilot.press("n")
        await accept_prompt(pilot, app, "baseline")
        assert [info.name for info in store.list()[0]] == ["baseline"]
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "SessionsScreen", timeout=10)
        await pilot.press("x", "n")  # asked, and declined
        await pilot.pause()
        assert store.exists("baseline")
        await pilot.press("o")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "SessionsScreen", timeout=10)
        await pilot.press("x", "y")
        await pilot.pause()
        assert not store.exists("baseline") and any("deleted session baseline" in n for n in notifications(app))


async def test_typing_into_a_prompt_replaces_the_offered_name(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen.is_modal, timeout=5)
        await pilot.press("f", "i", "r", "s", "t", "enter")
        await wait_for(pilot, lambda: app.session_name is not None, timeout=5)
        assert app.session_name == "first"
        await pilot.press("w")
        await wait_for(pilot, lambda: app.screen.is_modal, timeout=5)
        offered = app.screen.query_one("Input").value
        await pilot.press("end", "x")  # end keeps the offered text
        assert app.screen.query_one("Input").value == offered + "x"
        await pilot.press("escape")


@pytest.mark.parametrize("typed, opens", [("load", "TextPrompt"), ("preset", "PickScreen"), ("add a", "menu")])
async def test_the_command_palette_finds_the_apps_actions_by_what_they_do(make_app, typed, opens):
    # ctrl+p, which the key bar offers, listed only Textual's own commands (theme, quit, ...).
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Load an architecture JSON file" in titles and "Quit" in titles
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandPalette", timeout=5)
        await pilot.press(*typed)
        await pilot.pause(0.5)
        await pilot.press("enter")
        if opens == "menu":
            await wait_for(pilot, lambda: app.editor.table.menu is not None, timeout=5)
        else:
            await wait_for(pilot, lambda: type(app.screen).__name__ == opens, timeout=5)
