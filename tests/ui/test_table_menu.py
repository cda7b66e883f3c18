"""The menus the layer table draws over its rows (the layer types to add, whether to delete
a layer): what they show, the keys and clicks they take, and that answering one redraws only
the editor."""

from __future__ import annotations

import pytest
from rich.style import Style
from textual.geometry import Offset, Region

from cnn_tui.core.layers import TYPES
from cnn_tui.ui.editor.table_menu import MenuOption, MenuStyles, TableMenu

from .conftest import count_layouts, notifications, record_renders, shown_descriptions

STYLES = MenuStyles(Style(color="yellow"), Style(), Style(dim=True), Style(reverse=True))


HINT = "enter adds · esc cancels"


async def nothing(key: str) -> None:
    pass


def layer_menu() -> TableMenu:
    return TableMenu([MenuOption(kind.name, kind.name, kind.help) for kind in TYPES.values()], "add as layer 3", HINT,
                     nothing)


def names() -> list[str]:
    return list(TYPES)


def table_text(table) -> list[str]:
    """The table's lines as drawn now, menu included."""
    return [strip.text for strip in table.render_lines(Region(0, 0, table.size.width, table.size.height))]


# --- the menu on its own --------------------------------------------------------------


def test_typed_letters_jump_to_the_first_name_they_begin():
    menu = layer_menu()
    assert menu.type_ahead("l", now=10.0) and names()[menu.cursor] == "leakyrelu"
    assert menu.type_ahead("i", now=10.5) and names()[menu.cursor] == "linear"  # "li", within a second
    assert menu.type_ahead("b", now=12.0) and names()[menu.cursor] == "batchnorm2d"  # a new word
    assert menu.type_ahead("r", now=12.2) and names()[menu.cursor] == "relu"  # "br": no name; "r" alone
    before = menu.cursor
    assert not menu.type_ahead("q", now=14.0) and menu.cursor == before


def test_a_short_box_scrolls_to_the_highlighted_option_and_marks_what_is_hidden():
    menu = layer_menu()
    menu.move_to(10)
    lines = menu.draw(30, 6, STYLES)  # 4 options in view
    assert [strip.cell_length for strip in lines] == [30] * 6
    texts = [strip.text for strip in lines]
    assert menu.top == 7 and names()[10] in texts[4]
    assert "▲" in texts[0] and "▼" in texts[-1]
    assert menu.option_at(1, 6) == 7 and menu.option_at(4, 6) == 10
    assert menu.option_at(0, 6) is None and menu.option_at(5, 6) is None  # the borders
    menu.move(100)
    texts = [strip.text for strip in menu.draw(30, 6, STYLES)]
    assert "residual" in texts[4] and "▼" not in texts[-1]
    menu.move(-100)
    texts = [strip.text for strip in menu.draw(30, 6, STYLES)]
    assert "conv2d" in texts[1] and "▲" not in texts[0]


def test_every_line_of_a_box_too_narrow_for_it_is_exactly_its_width():
    menu = layer_menu()
    for width in (3, 8, 12, 25, menu.wanted_width, menu.wanted_width + 9):
        lines = menu.draw(width, menu.wanted_height, STYLES)
        assert {strip.cell_length for strip in lines} == {width}, width
    whole = [strip.text for strip in menu.draw(menu.wanted_width, menu.wanted_height, STYLES)]
    assert "add as layer 3" in whole[0] and HINT in whole[-1]
    assert all(TYPES[name].help in line for name, line in zip(names(), whole[1:-1]))


# --- in the app -----------------------------------------------------------------------


async def test_a_opens_the_menu_under_the_selected_row_and_enter_adds_the_type_typed(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.editor.table
        await pilot.press("down", "a")  # layer 1 selected: the new one goes in as layer 2
        await pilot.pause()
        box = table.menu_box()
        assert table.menu is not None and box is not None
        assert box.y == 3  # the header, rows 0 and 1, then the box
        text = table_text(table)
        assert "add as layer 2" in text[box.y] and "conv2d" in text[1] and "relu" in text[2]
        assert shown_descriptions(app)[:2] == ["pick", "cancel"] and "train" not in shown_descriptions(app)
        await pilot.press("t", "d")  # the app's keys do nothing while the menu is open
        await pilot.press("l", "i")
        await pilot.pause()
        assert not app.training and table.row_count == 12
        assert names()[table.menu.cursor] == "linear"
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert table.menu is None and table.row_count == 13
        assert app.editor.draft.layers[2]["type"] == "linear"
        assert app.editor.form.layer_type == "linear" and app.focused is table
        assert "train" in shown_descriptions(app)
        assert not notifications(app)


async def test_escape_a_click_outside_or_leaving_closes_the_menu_and_changes_nothing(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.editor.table
        before = [dict(layer) for layer in app.editor.draft.layers]
        await pilot.press("a", "down")
        await pilot.press("escape")
        await pilot.pause()
        assert table.menu is None and app.focused is table
        await pilot.press("a")
        await pilot.pause()
        box = table.menu_box()
        await pilot.click(table, offset=Offset(2, box.y - 1) + table.content_offset)  # the row above the box
        await pilot.pause()
        assert table.menu is None
        await pilot.press("a")
        await pilot.pause()
        await pilot.click("#cfg-lr")  # another control
        await pilot.pause()
        assert table.menu is None
        assert app.editor.draft.layers == before and table.row_count == 12


async def test_a_click_on_an_option_adds_it(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.editor.table
        await pilot.press("a")
        await pilot.pause()
        box = table.menu_box()
        line = 1 + names().index("dropout")
        await pilot.click(table, offset=Offset(box.x + 4, box.y + line) + table.content_offset)
        await pilot.pause(0.2)
        assert table.menu is None and app.editor.draft.layers[1]["type"] == "dropout"


async def test_a_ctrl_key_closes_the_menu_and_does_its_job(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.editor.table
        await pilot.press("c")  # a copy of the first conv, to undo
        await pilot.pause(0.2)
        assert table.row_count == 13
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("ctrl+z")
        await pilot.pause(0.2)
        assert table.menu is None and table.row_count == 12


async def test_narrow_a_brings_the_editor_back_with_the_menu_scrolled_to_fit(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.editor.table
        await pilot.press("v")  # the training pane, instead of the editor
        await pilot.pause()
        assert not app.editor.display or app.screen.has_class("-show-training")
        await pilot.press("a")
        await pilot.pause()
        assert not app.screen.has_class("-show-training") and table.menu is not None
        box = table.menu_box()
        assert box.height < table.menu.wanted_height and box.bottom == table.size.height
        assert box.y == 2  # no room for every type: below the selected row still, scrolling
        await pilot.press("end")
        await pilot.pause()
        text = table_text(table)
        assert "residual" in text[box.bottom - 2] and "▲" in text[box.y]
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.editor.draft.layers[1]["type"] == "residual"


async def test_with_no_room_below_the_menu_opens_above_the_selected_row(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.editor.table
        await pilot.press("end", "a")  # the last layer: a line or two below it
        await pilot.pause()
        box = table.menu_box()
        cursor_line = 1 + table.cursor_row - table.scroll_offset.y
        assert box.bottom == cursor_line and box.y >= 1  # above it, under the header
        assert "add as layer 12" in table_text(table)[box.y]


async def test_d_asks_under_the_row_y_or_enter_deletes_n_or_escape_keeps(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.editor.table
        await pilot.press("down", "d")  # layer 1, a relu
        await pilot.pause()
        box = table.menu_box()
        assert box.y == 3 and box.height == 4  # under the row: the question, delete, keep
        text = table_text(table)
        assert "delete layer 1 (relu)?" in text[box.y] and "y deletes · n keeps" in text[box.bottom - 1]
        assert "ctrl+z brings it back" in text[box.y + 1]
        for keep in ("n", "escape"):
            await pilot.press(keep)
            await pilot.pause()
            assert table.menu is None and table.row_count == 12
            await pilot.press("d")
            await pilot.pause()
        await pilot.press("down", "enter")  # enter on "keep"
        await pilot.pause()
        assert table.menu is None and table.row_count == 12
        await pilot.press("d", "enter")  # enter on the first option: delete
        await pilot.pause(0.2)
        assert table.row_count == 11 and app.editor.draft.layers[1]["type"] == "maxpool2d"
        await pilot.press("d", "x", "y")  # another letter changes nothing; y deletes
        await pilot.pause(0.2)
        assert table.menu is None and table.row_count == 10
        assert not notifications(app)


@pytest.mark.parametrize("opens, answer, changed", [
    ("a", ("down", "enter"), lambda layers: layers[1]["type"] == "maxpool2d"),  # a layer type picked
    ("d", ("y",), lambda layers: layers[0]["type"] == "relu"),  # the first conv deleted
])
async def test_answering_a_menu_redraws_only_the_editor_and_lays_nothing_out(make_app, monkeypatch, opens, answer,
                                                                           changed):
    # As dialog screens, the list and the question hid the editor, and closing one redrew all
    # ~90 widgets of the screen with the change: 14-24 ms median on 2 cores.
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        passes = count_layouts(app.screen)
        drawn = record_renders(monkeypatch)
        await pilot.press(opens)
        await pilot.pause(0.1)
        await pilot.press(*answer)
        await pilot.pause(0.3)
        assert changed(app.editor.draft.layers)
        assert not passes
        assert app.editor.table in drawn
        assert not [widget for widget in drawn if app.pane in widget.ancestors]


async def test_keys_that_come_together_with_a_or_d_reach_the_menu_it_opens(make_app):
    # Over a slow link (or typed fast) the keys after `a` arrive before the app has acted on
    # it; they were lost, and an enter among them added the first type instead of the one typed.
    from textual import events

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for key in ("a", "l", "i", "enter"):
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        await pilot.pause(0.3)
        assert app.editor.table.menu is None and app.editor.draft.layers[1]["type"] == "linear"
        for key in ("d", "n"):
            app.post_message(events.Key(key, key))
        await pilot.pause(0.3)
        assert app.editor.table.menu is None and app.editor.table.row_count == 13
