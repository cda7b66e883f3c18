"""What keeps the screen quick: the key bar, prompts that check before they close, charts
built once per change, dialogs built once, and the collector kept away from the app."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time

from textual import events
from textual.widgets import Input

from cnn_tui.core.spec import Architecture
from cnn_tui.ui.keybar import KeyBar
from cnn_tui.ui.screens.dialog import Dialog
from cnn_tui.ui.screens.help import HelpScreen
from cnn_tui.ui.screens.prompt import TextPrompt
from cnn_tui.ui.training.charts import MetricChart

from .conftest import calls_of, count_layouts, notifications, record_renders, shown_descriptions, wait_for


def slow_disk(monkeypatch, slow=lambda where: True) -> tuple[threading.Event, threading.Event]:
    """Architecture.load blocks on the files `slow` picks until the test lets it go on:
    (set as such a read starts, to be set by the test to let it finish)."""
    reading, go_on = threading.Event(), threading.Event()
    load = Architecture.load

    def slow_load(where):
        if slow(where):
            reading.set()
            go_on.wait(10)
        return load(where)

    monkeypatch.setattr(Architecture, "load", staticmethod(slow_load))
    return reading, go_on


async def load_through_the_prompt(pilot, app, path) -> TextPrompt:
    """`l`, the path typed in, enter: the prompt (still up while the file is read)."""
    await pilot.press("l")
    await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt), timeout=5)
    prompt = app.screen
    prompt.query_one(Input).value = str(path)
    await pilot.press("enter")
    return prompt


async def test_the_key_bar_shows_the_keys_that_work_now(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        bar = app.query_one(KeyBar)
        expected = [b.description for b in app.BINDINGS if b.show]
        assert shown_descriptions(app) == expected
        assert bar.palette is not None and bar.palette.display == "^p"
        line = bar.render().plain
        assert line.startswith(" t train  b background ") and line.rstrip().endswith("▏^p palette")
        assert len(line) == 120

        await pilot.press("enter")  # into the layer's first field: typing keys are the field's
        await pilot.pause()
        assert isinstance(app.focused, Input)
        assert "train" not in shown_descriptions(app) and "save" in shown_descriptions(app)
        await pilot.press("escape")
        await pilot.pause()
        assert shown_descriptions(app) == expected


async def test_a_focus_move_never_lays_the_screen_out_for_the_key_bar(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        bar = app.query_one(KeyBar)
        layouts = []
        refresh = bar.refresh
        bar.refresh = lambda *a, **k: (layouts.append(k) if k.get("layout") else None, refresh(*a, **k))[1]
        for _ in range(3):
            await pilot.press("enter")
            await pilot.pause()
            await pilot.press("escape")
            await pilot.pause()
        assert not layouts


async def test_a_focus_move_draws_only_the_tables_header_and_cursor_row_again(make_app, monkeypatch):
    # Textual works a widget's styles out again and draws all of it as the focus comes or
    # goes: 3-5 ms of a tab on 2 cores for the layer list, whose header and cursor row alone
    # look different.
    from textual.css.stylesheet import Stylesheet

    from cnn_tui.ui.editor.layer_table import LayerTable

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.editor.table
        assert app.focused is table and table.cursor_row == 0 and table.scroll_offset.y == 0
        cursor_line = table.header_rows  # row 0

        def background(y: int):
            return {segment.style.bgcolor for segment in table.render_line(y) if segment.text.strip()}

        looks = {name: table.get_component_rich_style(name).bgcolor
                 for name in ("row-table--cursor", "row-table--cursor-focused")}
        assert looks["row-table--cursor"] != looks["row-table--cursor-focused"]
        assert looks["row-table--cursor-focused"] in background(cursor_line)
        before = [table.render_line(y) for y in range(table.size.height)]
        drawn = []
        render_line = LayerTable.render_line
        monkeypatch.setattr(LayerTable, "render_line", lambda self, y: (drawn.append(y), render_line(self, y))[1])
        styled = calls_of(monkeypatch, Stylesheet, "apply")
        await pilot.press("tab")
        await pilot.pause()
        assert app.focused is not table
        assert set(drawn) == {*range(table.header_rows), cursor_line}
        assert table not in styled
        assert looks["row-table--cursor"] in background(cursor_line)
        after = [table.render_line(y) for y in range(table.size.height)]
        assert [y for y in range(len(before)) if before[y] != after[y]] == [*range(table.header_rows), cursor_line]
        drawn.clear()
        await pilot.press("shift+tab")
        await pilot.pause()
        assert app.focused is table and set(drawn) == {*range(table.header_rows), cursor_line}
        assert [table.render_line(y) for y in range(table.size.height)] == before


async def test_a_click_on_a_key_presses_it(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        bar = app.query_one(KeyBar)
        bar.render()
        help_span = next(start for start, _end, key in bar._spans if key.description == "help")
        await pilot.click(KeyBar, offset=(help_span + 1, 0))
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")  # the same screen again, built once
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


async def test_a_file_that_cannot_load_keeps_the_prompt_open_saying_why(make_app, tmp_path):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt), timeout=5)
        prompt = app.screen
        prompt.query_one(Input).value = str(tmp_path / "missing.json")
        await pilot.press("enter")
        await wait_for(pilot, lambda: prompt.problem not in ("", "reading…"), timeout=10)
        assert app.screen is prompt and "missing.json" in prompt.problem
        assert app.editor.draft.layers[0]["type"] == "conv2d"

        good = tmp_path / "net.json"  # corrected in place: the prompt loads it and closes
        good.write_text(json.dumps({"input": [1, 28, 28], "layers": [{"type": "flatten"},
                                                                     {"type": "linear", "out_features": 10}]}))
        prompt.query_one(Input).value = str(good)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.editor.source == "net.json", timeout=10)
        assert app.screen is not prompt
        assert [layer["type"] for layer in app.editor.draft.layers] == ["flatten", "linear"]
        assert app.editor.table.row_count == 2
        await pilot.press("ctrl+z")  # one undo step puts the network back
        await wait_for(pilot, lambda: app.editor.draft.layers[0]["type"] == "conv2d", timeout=5)


async def test_escape_while_a_file_is_read_leaves_the_network_alone(make_app, tmp_path, monkeypatch):
    app = make_app()
    path = tmp_path / "net.json"
    path.write_text(json.dumps({"input": [1, 28, 28], "layers": [{"type": "flatten"}]}))
    reading, go_on = slow_disk(monkeypatch)  # still being read when escape is pressed
    async with app.run_test(size=(120, 40)) as pilot:
        await load_through_the_prompt(pilot, app, path)
        await wait_for(pilot, reading.is_set, timeout=5)
        await pilot.press("escape")
        await pilot.pause()
        go_on.set()
        await pilot.pause(0.3)
        assert not isinstance(app.screen, TextPrompt)
        assert app.editor.draft.layers[0]["type"] == "conv2d" and app.editor.source != "net.json"


async def test_a_chart_is_built_again_only_when_it_changed(make_app, monkeypatch):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        chart = app.query_one("#acc-chart", MetricChart)
        builds = []
        build = chart.plt.build
        monkeypatch.setattr(chart.plt, "build", lambda: (builds.append(1), build())[1])
        first = chart.render()
        assert chart.render() is first and not builds  # drawn again: the same figure
        chart.append("test", 1.0, 0.5)
        changed = chart.render()
        assert changed is not first and len(builds) == 1
        assert chart.render() is changed and len(builds) == 1


async def test_the_app_keeps_its_long_lived_objects_out_of_full_collections(make_app):
    gc.unfreeze()
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.pause()
        assert gc.get_freeze_count() > 10_000  # the widgets, modules and styles drawn at start


async def test_editing_lays_the_screen_out_only_for_a_new_shape(make_app):
    # A layout pass of this screen is 10-15 ms on 2 cores: a digit that makes a column wider,
    # a layer added, the add-layer menu opened or closed must fit in what is there.
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        width = app.editor.size.width
        await pilot.press("a")  # the add-layer menu
        await pilot.pause(0.1)
        await pilot.press("escape")
        await pilot.pause(0.1)
        await pilot.press("enter")  # the first conv's out_channels, 6, selected: typing replaces it
        await pilot.pause()
        passes = count_layouts(app.screen)
        for key in ("1", "2", "8"):  # 1, 12, 128 channels: four columns widen
            await pilot.press(key)
            await pilot.pause(0.1)
        assert str(app.editor.table.get_row_at(0)[2]).startswith("128@")
        assert not passes
        assert app.editor.size.width == width

        await pilot.press("escape", "a")  # the add-layer menu over the rows, and a conv added
        await pilot.pause(0.1)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.editor.table.row_count == 13 and app.editor.form.layer_type == "conv2d"
        assert not passes
        assert app.editor.size.width == width


async def test_loading_a_file_keeps_the_panes_as_they_are_until_the_terminal_is_resized(make_app, tmp_path):
    # A new width for a pane lays out and redraws the whole screen (about 40 ms on 2 cores):
    # the split follows the terminal, not the file.
    narrow = tmp_path / "narrow.json"  # a table much narrower than the seed network's
    narrow.write_text(json.dumps({"input": [1, 28, 28], "layers": [{"type": "flatten"},
                                                                   {"type": "linear", "out_features": 10}]}))
    wide = tmp_path / "wide.json"  # and one much wider than the editor
    wide.write_text(json.dumps({"input": [1, 28, 28], "layers": [
        {"type": "conv2d", "out_channels": 123456, "kernel_size": 3, "padding": 11, "dilation": 7},
        {"type": "flatten"}, {"type": "linear", "out_features": 10}]}))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        width = app.editor.size.width
        for path in (narrow, wide):
            await load_through_the_prompt(pilot, app, path)
            await wait_for(pilot, lambda: app.editor.source == path.name, timeout=10)
            await pilot.pause(0.2)
            assert app.editor.size.width == width, path.name
            later = count_layouts(app.screen)  # nothing left to lay out once the file shows
            await pilot.pause(0.2)
            assert not later

        table = app.editor.table
        assert table.wanted_width > table.size.width  # the wide table scrolls sideways
        app.editor.focus_layers()
        await pilot.press(*["right"] * 60)  # the arrows scroll it
        await pilot.pause()
        assert table.scroll_x == table.max_scroll_x > 0
        row = table.render_line(1).text.split()
        assert row[:2] == ["0", "conv2d"] and row[-1] == "15×15"  # "#" and "layer" stay in view

        await pilot.resize_terminal(200, 50)  # a new terminal width fits the panes afresh
        await pilot.pause(0.3)
        assert app.editor.size.width > width
        assert table.size.width >= table.wanted_width and table.max_scroll_x == 0


async def test_a_dialog_dims_the_screen_below_as_textual_would_without_drawing_it_again(make_app, monkeypatch):
    # Textual passes the whole screen below through Rich each time a dialog is drawn (13-18
    # ms as one opens, on 2 cores); the dialog dims the lines already drawn, once.
    from textual._context import visible_screen_stack
    from textual.renderables.background_screen import BackgroundScreen
    from textual.screen import Screen

    from cnn_tui.ui.screens.backdrop import DimmedBackdrop

    through_rich = calls_of(monkeypatch, BackgroundScreen, "__rich_console__")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt), timeout=5)
        await pilot.pause(0.2)
        prompt = app.screen
        assert isinstance(prompt, DimmedBackdrop) and not through_rich
        ours = [prompt.render_line(y) for y in range(40)]
        visible_screen_stack.set(app._background_screens)
        prompt._render_content()  # Textual's own drawing of the same backdrop
        textual = [Screen.render_line(prompt, y) for y in range(40)]
        assert through_rich
        assert [list(line) for line in ours] == [list(line) for line in textual]
        assert "conv2d" in ours[2].text and ours[2].text == app.screen_stack[0]._compositor.render_strips()[2].text

        await pilot.resize_terminal(100, 30)  # resized under the dialog: Textual draws it again
        await pilot.pause(0.3)
        assert len(prompt.render_lines(prompt.region)) == 30
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]

        await pilot.press("question_mark")  # made while help was up, shown over the panes
        await pilot.pause()
        late = TextPrompt("made under help")
        app.pop_screen()
        await pilot.pause()
        app.push_screen(late)
        await pilot.pause(0.2)
        assert late._backdrop_lines() is None  # not help's lines: Textual's drawing of the panes
        assert "conv2d" in Screen.render_line(late, 2).text


async def test_a_layer_with_fewer_fields_leaves_its_other_slots_blank(make_app):
    # Unused slots are see-through (no layout pass); they must also hold no text, and never
    # take the focus.
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        form = app.editor.form
        await pilot.press("down", "down")  # conv2d (7 fields) -> relu -> maxpool2d (5 fields)
        await pilot.pause()
        assert form.layer_type == "maxpool2d"
        labels = [str(form.query_one(f"#label-{slot}").render()) for slot in range(7)]
        assert labels == [*form.field_names, "", ""]
        assert all(form.query_one(f"#input-{slot}").placeholder == "" for slot in (5, 6))
        screen = app.export_screenshot()
        assert "groups" not in screen and "bias" not in screen
        await pilot.press("enter", *["tab"] * 5)  # through the five fields, and on
        await pilot.pause()
        assert app.focused not in (form.query_one("#input-5"), form.query_one("#input-6"))


async def test_a_full_repaint_skips_the_screens_blank_lines_and_the_see_through_inputs(make_app, monkeypatch):
    # Each is ~0.5 ms of Textual's drawing on 2 cores, in every full repaint (a dialog
    # closing, a file loaded): the screen's own lines, all covered, and each see-through slot.
    from textual._styles_cache import StylesCache

    from cnn_tui.ui.app import MainScreen
    from cnn_tui.ui.editor.layer_form import FieldInput

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("down")  # conv2d -> relu: all seven slots see-through
        await pilot.pause()
        screen, form = app.screen, app.editor.form
        assert form.layer_type == "relu"
        styled: list = []  # the widgets drawn through Textual's style cache
        render_widget = StylesCache.render_widget
        monkeypatch.setattr(StylesCache, "render_widget",
                            lambda cache, widget, crop: (styled.append(widget), render_widget(cache, widget, crop))[1])
        through_input = calls_of(monkeypatch, Input, "render_line")
        screen.refresh()
        await pilot.pause()
        assert form in styled and screen not in styled
        assert not [field for field in through_input if isinstance(field, FieldInput)]
        ours = screen._compositor.render_strips()

        monkeypatch.setattr(MainScreen, "BLANK", False)  # as Textual draws them
        monkeypatch.setattr(FieldInput, "render_line", Input.render_line)
        for widget in (screen, *form.query(FieldInput)):
            widget._styles_cache.clear()
        screen.refresh()
        await pilot.pause()
        assert screen in styled and len([field for field in through_input if isinstance(field, FieldInput)]) == 7
        assert [list(line) for line in screen._compositor.render_strips()] == [list(line) for line in ours]


async def test_a_layer_picked_is_added_once_before_the_menu_closes(make_app, monkeypatch):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.editor.table
        insert = app.editor.insert_layer
        rows_seen_at_close = []

        async def slow_insert(layer_type):  # long enough for a second enter to arrive meanwhile
            await asyncio.sleep(0.2)
            await insert(layer_type)

        close = table.close_menu
        monkeypatch.setattr(app.editor, "insert_layer", slow_insert)
        monkeypatch.setattr(table, "close_menu", lambda: (table.menu is not None and rows_seen_at_close.append(table.row_count),
                                                          close())[1])
        for _ in range(2):
            await pilot.press("a")
            await pilot.pause(0.1)
            assert table.menu is not None
            await pilot.press("enter", "enter")  # a second enter while the first is acted on
            await pilot.pause(0.5)
            assert table.menu is None
            # The second enter acted after the pick, in the order typed: on the added layer's
            # row, opening its first field.
            assert app.focused is not table and app.focused in app.editor.form.query("FieldInput")
            await pilot.press("escape")
            await pilot.pause(0.1)
        assert rows_seen_at_close == [13, 14]  # the row was there when the menu closed, and added once
        assert not notifications(app)


async def test_editing_keys_redraw_nothing_of_the_training_pane(make_app, monkeypatch):
    # A frame redraws every widget inside the box around all that changed. The key bar (along
    # the bottom) and the training pane's state line, changed in the same frame as the
    # editor, made that box the whole screen: 13 ms for a tab instead of 4 on 2 cores.
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        drawn = record_renders(monkeypatch)
        await pilot.press("tab")  # the layer list to the first field: the key bar changes
        await pilot.pause(0.2)
        assert "save" in shown_descriptions(app) and "train" not in shown_descriptions(app)
        await pilot.press("1")  # 6 channels become 1: new numbers, still a network that trains
        await pilot.pause(0.3)
        assert str(app.editor.table.get_row_at(0)[2]).startswith("1@")
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert "train" in shown_descriptions(app)
        assert any(isinstance(widget, KeyBar) for widget in drawn)
        assert app.editor.table in drawn
        assert not [widget for widget in drawn if app.pane in widget.ancestors]  # its own edge may be


async def test_a_layer_like_the_last_one_leaves_the_form_labels_alone(make_app, monkeypatch):
    from cnn_tui.ui.editor.layer_form import FieldLabel

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        form = app.editor.form
        assert app.editor.draft.layers[3]["type"] == "conv2d"
        refreshed = calls_of(monkeypatch, FieldLabel, "refresh")
        app.editor.table.move_cursor(row=3)  # conv2d to conv2d: the same field names
        await wait_for(pilot, lambda: form.path == (3,), timeout=5)
        await pilot.pause()
        assert form.query_one("#input-0").value == "12"  # the second conv's channels
        assert not [label for label in refreshed if (label.id or "").startswith("label-")]
        app.editor.table.move_cursor(row=4)  # a relu: no fields, every label blanked
        await wait_for(pilot, lambda: form.path == (4,), timeout=5)
        assert {f"label-{slot}" for slot in range(7)} <= {label.id for label in refreshed}


async def test_the_layer_table_works_out_its_style_once_a_redraw(make_app, monkeypatch):
    from cnn_tui.ui.editor.layer_table import LayerTable

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.editor.table
        asked = []
        style = LayerTable.rich_style
        monkeypatch.setattr(LayerTable, "rich_style", property(lambda self: (asked.append(1), style.fget(self))[1]))
        table._lines.clear()
        table.refresh()
        await pilot.pause()
        assert table.size.height > 20 and 1 <= len(asked) <= 2  # not once a line


def full_collections() -> tuple[list[float], object]:
    """Start times of Python's full collections from now on, and the hook to remove after."""
    started: list[float] = []

    def hook(phase, info):
        if phase == "start" and info["generation"] == 2:
            started.append(time.monotonic())

    gc.callbacks.append(hook)
    return started, hook


async def test_full_collections_wait_for_a_pause(make_app):
    # A full collection walks everything made since the last freeze (the screen's cached
    # lines: ~20,000 objects, 8-20 ms on 2 cores); Python ran one every 10-20 s of editing.
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.collector.quiet_seconds = 0.5
        started, hook = full_collections()
        try:
            for _ in range(8):  # editing without a pause, while young collections pile up
                gc.collect(1)
                gc.collect(1)
                await pilot.press("c")
                await pilot.pause(0.1)
                await pilot.press("ctrl+z")
                await pilot.pause(0.1)
            assert app.editor.table.row_count == 12
            assert not started  # Python's own would have come after 10 young collections
            await pilot.pause(2.0)  # a pause: the app collects now, once
            assert len(started) == 1
        finally:
            gc.callbacks.remove(hook)
    assert gc.get_threshold()[2] == 10  # Python's own schedule is back after the app


def test_the_quiet_collector_collects_only_after_a_pause_and_new_work():
    from cnn_tui.ui.collector import QuietCollector

    collector = QuietCollector(quiet_seconds=60)
    before = gc.get_threshold()
    collector.start()
    try:
        assert gc.get_threshold()[2] > before[2]
        gc.collect(1)
        collector.touched()
        assert not collector.tick()  # someone is typing
        collector.last_input -= 61
        assert collector.tick()
        assert not collector.tick()  # nothing new since
    finally:
        collector.stop()
    assert gc.get_threshold() == before


async def test_a_kept_dialog_is_styled_again_only_after_a_theme_change(make_app, monkeypatch):
    from cnn_tui.ui.screens.help import HelpText

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        text = app.screen.query_one(HelpText)
        dark_background = text.styles.background
        restyled = calls_of(monkeypatch, type(text), "notify_style_update")
        for _ in range(3):  # shown again: its drawn lines are kept
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("question_mark")
            await pilot.pause()
        assert app.screen.query_one(HelpText) is text and text not in restyled
        await pilot.press("escape")
        await pilot.pause()
        app.theme = "textual-light"
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert text in restyled and text.styles.background != dark_background


async def test_the_help_text_is_drawn_in_a_thread_before_the_first_question_mark(make_app, monkeypatch):
    # Rich's Markdown of the help text takes ~10 ms on 2 cores, and the first `?` drew it on
    # the event loop, with the dialog's first layout: the longest stall of the keys measured.
    import cnn_tui.ui.screens.help as help_module
    from cnn_tui.ui.screens.help import HelpText

    monkeypatch.setattr(help_module, "_drawn", {})
    real, calls = help_module.help_lines, []
    monkeypatch.setattr(help_module, "help_lines", lambda width: (
        calls.append((width, threading.current_thread() is threading.main_thread())), real(width))[1])
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        expected = HelpScreen.text_width(120)
        await wait_for(pilot, lambda: expected in help_module._drawn, timeout=10)
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        view = app.screen.query_one(HelpText)
        assert view.lines is help_module._drawn[expected] and "cnn-tui keys" in view.lines[0].text
        assert view.content_region.width - 1 == expected
        assert calls == [(expected, False)]  # drawn once, ahead, off the event loop
        await pilot.resize_terminal(100, 30)
        await wait_for(pilot, lambda: view.lines is help_module._drawn.get(HelpScreen.text_width(100)), timeout=10)
        assert calls == [(expected, False), (HelpScreen.text_width(100), False)]


async def test_a_terminal_resized_under_a_dialog_fits_the_panes_when_it_closes(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("question_mark")
        await pilot.pause()
        await pilot.resize_terminal(90, 30)  # narrow: one pane at a time
        await pilot.pause(0.3)
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert app.screen.has_class("-narrow")
        assert app.editor.outer_size.width == 90 and not app.pane.display
        await pilot.press("question_mark")
        await pilot.pause()
        await pilot.resize_terminal(160, 40)  # and wide again
        await pilot.pause(0.3)
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert not app.screen.has_class("-narrow")
        assert app.pane.display and app.editor.outer_size.width + app.pane.outer_size.width == 160


async def test_the_load_prompt_says_reading_only_for_a_file_that_takes_a_while(make_app, tmp_path, monkeypatch):
    # Shown at once, the line laid the prompt out again in the frame that closed it.
    app = make_app()
    path = tmp_path / "net.json"
    path.write_text(json.dumps({"input": [1, 28, 28], "layers": [{"type": "flatten"}]}))
    said = []
    say = TextPrompt._say
    monkeypatch.setattr(TextPrompt, "_say", lambda self, text: (said.append(text), say(self, text))[1])
    reading, go_on = slow_disk(monkeypatch, lambda where: where.endswith("slow.json"))
    async with app.run_test(size=(120, 40)) as pilot:
        await load_through_the_prompt(pilot, app, path)
        await wait_for(pilot, lambda: app.editor.source == "net.json", timeout=10)
        assert said == []

        slow = tmp_path / "slow.json"
        slow.write_text(path.read_text())
        prompt = await load_through_the_prompt(pilot, app, slow)
        await wait_for(pilot, reading.is_set, timeout=5)
        await wait_for(pilot, lambda: prompt.problem == "reading…", timeout=5)
        go_on.set()
        await wait_for(pilot, lambda: app.editor.source == "slow.json", timeout=10)
        assert said == ["reading…"]


def long_network(pairs: int) -> dict:
    """flatten, then `pairs` linear / relu pairs: more rows than the table shows at 120×40."""
    return {"input": [1, 28, 28],
            "layers": [{"type": "flatten"}, *[{"type": "linear", "out_features": 10}, {"type": "relu"}] * pairs]}


async def test_closing_a_dialog_lays_nothing_out(make_app):
    # Textual removes a closed screen like any child of the app and then asks the screen
    # below for a layout pass and a second full redraw (10-23 ms on 2 cores), though nothing
    # on it changed.
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        main = app.screen
        passes = count_layouts(main)
        for key, dialog in (("l", TextPrompt), ("r", None), ("w", TextPrompt)):
            await pilot.press(key)
            await wait_for(pilot, lambda: app.screen is not main, timeout=5)
            assert dialog is None or isinstance(app.screen, dialog)
            await pilot.pause(0.1)
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is main and len(app.screen_stack) == 1, timeout=5)
            await pilot.pause(0.2)
        assert not passes
        assert not [node for node in app.children if isinstance(node, Dialog)]  # each one gone


async def test_a_loaded_file_is_drawn_in_a_frame_after_the_prompt_has_gone(make_app, tmp_path, monkeypatch):
    # Drawn in the frame that takes the prompt away, a new network's table, form and totals
    # made that frame 20-30 ms on 2 cores: the screen is drawn back as it was first (from the
    # lines its widgets keep), then the network in a frame of its own. Neither lays the screen
    # out: the table's vertical scrollbar is always there, in the table's colour while the
    # rows fit, so a table that comes to need it needs no layout pass.
    from textual.screen import Screen

    from cnn_tui.ui.editor.pane import EditorPane

    path = tmp_path / "long.json"
    path.write_text(json.dumps(long_network(50)))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        main, table = app.screen, app.editor.table
        assert table.has_class("-fits") and table.show_vertical_scrollbar
        order: list[str] = []
        refresh, show = Screen._compositor_refresh, EditorPane.show_loaded

        def frame(screen):
            if screen is main and app.screen is main:
                order.append("frame")
            return refresh(screen)

        async def shown(pane, prepared):
            order.append("shown")
            return await show(pane, prepared)

        monkeypatch.setattr(Screen, "_compositor_refresh", frame)
        monkeypatch.setattr(EditorPane, "show_loaded", shown)
        passes = count_layouts(main)
        await load_through_the_prompt(pilot, app, path)
        await wait_for(pilot, lambda: app.editor.source == "long.json", timeout=10)
        await pilot.pause(0.3)
        assert order[:2] == ["frame", "shown"] and "frame" in order[2:]
        assert not passes
        assert not table.has_class("-fits") and table.max_scroll_y > 0


async def test_a_click_as_a_loaded_file_is_drawn_acts_on_that_file(make_app, tmp_path, monkeypatch):
    # Between the frame that takes the prompt away and the new network's, keys and clicks wait:
    # a click on the table's fourth row, made as that first frame is drawn, selects the loaded
    # network's fourth layer (before, it went to the old network, whose cursor the load then
    # put back on the first layer).
    from textual.screen import Screen

    from cnn_tui.ui.editor.layer_table import LayerTable
    from cnn_tui.ui.editor.pane import EditorPane

    path = tmp_path / "net.json"
    path.write_text(json.dumps({"input": [1, 28, 28], "layers": [
        {"type": "flatten"}, {"type": "linear", "out_features": 32}, {"type": "relu"},
        {"type": "linear", "out_features": 10}]}))
    app = make_app()
    refresh, clicks = Screen._compositor_refresh, []
    show = EditorPane.show_loaded

    async def slow_show(pane, prepared):  # the click comes while the change waits to be drawn
        await asyncio.sleep(0.3)
        return await show(pane, prepared)

    monkeypatch.setattr(EditorPane, "show_loaded", slow_show)
    async with app.run_test(size=(120, 40)) as pilot:
        def frame(screen):  # as the terminal sends a click: button down and up on the fourth row
            if not clicks and screen is app.screen and len(app.screen_stack) == 1 and app.last_path == str(path):
                region = app.query_one(LayerTable).region
                x, y = region.x + 3, region.y + 4
                for kind in (events.MouseDown, events.MouseUp):
                    clicks.append(kind(None, x, y, 0, 0, 1, False, False, False, screen_x=x, screen_y=y))
                    app.post_message(clicks[-1].set_sender(app))
            return refresh(screen)

        monkeypatch.setattr(Screen, "_compositor_refresh", frame)
        await pilot.pause(0.2)
        await load_through_the_prompt(pilot, app, path)
        await wait_for(pilot, lambda: app.editor.source == "net.json", timeout=10)
        await pilot.pause(0.3)
        assert clicks
        assert app.editor.table.cursor_row == 3
        assert app.editor.form.path == (3,) and app.editor.form.layer_type == "linear"
        assert not app._held_input and not app._changes_waiting


async def test_keys_typed_as_the_load_prompt_is_made_reach_it(make_app, tmp_path, monkeypatch):
    # The prompt is pushed in the loop's next turn (copying the screen behind it and building
    # it were one stall of 10-20 ms on 2 cores): keys that come meanwhile wait for it, and
    # reach it rather than the panes.
    app = make_app()
    push_dialog = type(app).push_dialog

    def push_then_type(self, dialog, callback=None):
        push_dialog(self, dialog, callback)
        if isinstance(dialog, TextPrompt):  # as if these came right after `l`
            typed = [*[(ch, ch) for ch in "/n"], ("full_stop", "."), *[(ch, ch) for ch in "json"], ("enter", "\r")]
            for key, character in typed:
                self.post_message(events.Key(key, character).set_sender(self))

    monkeypatch.setattr(type(app), "push_dialog", push_then_type)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        app.last_path = str(tmp_path / "offered.json")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, TextPrompt), timeout=5)
        await pilot.pause(0.3)
        prompt = app.screen
        assert prompt.query_one(Input).value == "/n.json"  # the offered path replaced by what was typed
        assert prompt.problem.startswith("cannot load")  # and enter submitted it (no such file at /)
        assert app.editor.table.row_count == 12 and not app.training


async def test_a_session_opened_from_the_list_is_drawn_in_frames_of_its_own(make_app, tmp_path, monkeypatch):
    # Drawn with the list closing, in one frame, a session took 30-50 ms on 2 cores: the panes
    # are drawn back first, then the network and configuration, then the epoch table, each in
    # a frame of its own; then the charts' data, each drawn when its figure is built.
    from textual.screen import Screen

    from cnn_tui.ui.editor.pane import EditorPane
    from cnn_tui.ui.training.charts import LossChart
    from cnn_tui.ui.training.epoch_table import EpochTable

    from .test_compare_export import sessions

    sessions(tmp_path)
    app = make_app()
    order: list[str] = []
    refresh, show, loss, accuracy = (Screen._compositor_refresh, EditorPane.show_loaded, LossChart.set_data,
                                     MetricChart.set_data)
    set_epochs = EpochTable.set_epochs

    def frame(screen):
        if screen is app.screen and len(app.screen_stack) == 1 and order:
            order.append("frame")
        return refresh(screen)

    async def network(pane, prepared):
        order.append("network")
        return await show(pane, prepared)

    def epochs(table, rows):
        order.append("table")
        return set_epochs(table, rows)

    def data(chart, series):
        order.append("loss" if isinstance(chart, LossChart) else "accuracy")
        return (loss if isinstance(chart, LossChart) else accuracy)(chart, series)

    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("o")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "SessionsScreen", timeout=5)
        await pilot.pause(0.2)
        monkeypatch.setattr(Screen, "_compositor_refresh", frame)
        monkeypatch.setattr(EditorPane, "show_loaded", network)
        monkeypatch.setattr(MetricChart, "set_data", data)  # LossChart is a MetricChart
        monkeypatch.setattr(EpochTable, "set_epochs", epochs)
        order.append("enter")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.session_name == "base" and "accuracy" in order, timeout=10)
        await pilot.pause(0.3)
        steps = [step for i, step in enumerate(order) if step != "frame" or order[i - 1] != "frame"]
        assert steps[:7] == ["enter", "frame", "network", "frame", "table", "frame", "loss"]
        assert "accuracy" in steps[7:9]  # next (a frame between if the loss chart's figure was built by then)
        assert app.pane.query_one("EpochTable").row_count == 3
