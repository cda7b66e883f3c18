"""Residual blocks in the editor, driven by keys: add one, go into it, change it, fold it;
and the block presets train from the app."""

from __future__ import annotations

import pytest

from cnn_tui.core.layers import TYPES
from cnn_tui.core.presets import preset
from cnn_tui.core.sessions import SessionStore
from cnn_tui.ui.editor.layer_table import LayerTable

from .conftest import cell, notifications, small_config, train_to_the_end, wait_for


def rows(table: LayerTable) -> list[tuple[str, str]]:
    """Each row's place and layer column, as shown."""
    return [(cell(table, row, 0), cell(table, row, 1).strip()) for row in range(table.row_count)]


async def add(pilot, layer_type: str) -> None:
    await pilot.press("a")
    await pilot.pause()
    for _ in range(list(TYPES).index(layer_type)):
        await pilot.press("down")
    await pilot.press("enter")
    await pilot.pause()


async def test_add_a_block_change_its_inner_stride_and_see_the_projection(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(LayerTable)
        await pilot.press("down", "down")  # the first maxpool: 6×12×12 out
        await add(pilot, "residual")
        assert table.cursor_row == 3 and cell(table, 3, 1) == "▾ residual"
        assert [place for place, _ in rows(table)[3:9]] == ["3", "3.0", "3.1", "3.2", "3.3", "3.4"]
        assert cell(table, 4, 2) == "6@3×3 s1 p1 nobias"  # its convs take the channels it is added at
        assert cell(table, 3, 3) == "6×12×12" and cell(table, 3, 4) == f"{2 * (6 * 6 * 9 + 12):,}"
        assert not any("projection" in name for _, name in rows(table))
        assert cell(table, 12, 3) == "192"  # flatten: 12×4×4, as before

        await pilot.press("enter")  # into the block: its first conv
        assert table.cursor_row == 4
        await pilot.press("enter", "tab", "tab")  # out_channels, kernel_size, stride
        assert app.focused.key == ((3, 0), "conv2d", "stride")
        await pilot.press("end", "backspace", "2")
        await pilot.pause()
        assert cell(table, 4, 3) == "6×6×6" and cell(table, 3, 3) == "6×6×6"
        projection = next(row for row, (_, name) in enumerate(rows(table)) if "projection" in name)
        assert projection == 9  # after the block's layers
        assert cell(table, 9, 2) == "1×1 conv s2 + batchnorm" and cell(table, 9, 4) == f"{6 * 6 + 12:,}"
        assert cell(table, 3, 2) == "5 layers + projection"
        # every shape below follows: conv 5×5 on 6×6 gives 12×2×2, the pool 12×1×1
        assert cell(table, 10, 3) == "12×2×2" and cell(table, 12, 3) == "12×1×1"
        assert cell(table, 13, 3) == "12"
        assert "valid" in str(app.query_one("#editor-error").render())

        await pilot.press("escape")
        await pilot.press("up", "space")  # space on a layer inside folds its block
        await pilot.pause()
        assert table.cursor_row == 3 and cell(table, 3, 1) == "▸ residual"
        assert [place for place, _ in rows(table)[3:5]] == ["3", "4"]
        await pilot.press("space")
        assert cell(table, 4, 0) == "3.0"

        await pilot.press("ctrl+z")  # the stride edit is undone, and so the projection
        await pilot.pause()
        assert not any("projection" in name for _, name in rows(table))
        arch = app.editor.architecture()
        assert arch.layers[3].type == "residual" and len(arch.layers[3].layers) == 5


async def test_the_projection_row_is_not_a_layer(make_app):
    app = make_app(arch=preset("resnet-small"), config=small_config(input_shape=(1, 28, 28)))
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(LayerTable)
        projection = next(row for row, (_, name) in enumerate(rows(table)) if "projection" in name)
        table.move_cursor(projection)
        await pilot.pause()
        count = table.row_count
        await pilot.press("d")
        await pilot.pause()
        assert table.row_count == count
        assert any("cannot delete the projection" in notice for notice in notifications(app))
        assert "projection" in str(app.query_one("#form-title").render())


@pytest.mark.parametrize("name", ["resnet-small", "vgg-bn"])
async def test_block_and_batchnorm_presets_train_from_the_app(make_app, tmp_path, name):
    config = small_config(epochs=1, train_size=200, test_size=50, input_shape=(3, 16, 16))
    app = make_app(arch=preset(name), config=config)
    async with app.run_test(size=(120, 40)) as pilot:
        await train_to_the_end(pilot, app)
        await wait_for(pilot, lambda: app.shown is not None)
        session = SessionStore(tmp_path / "sessions").open(app.shown.name)
        assert session.record.status == "finished" and len(session.read_metrics()[0]) == 1
        assert session.record.architecture == preset(name).with_input((3, 16, 16)).to_dict()
