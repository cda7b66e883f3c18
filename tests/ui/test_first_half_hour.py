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
        await pilot.pause()
        assert app.is_running
        assert any("deep.json" in n for n in notifications(app))
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
