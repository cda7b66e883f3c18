"""The layer list on its own: rows held as data, only the lines on screen drawn."""

from __future__ import annotations

import statistics
import time

import pytest
from rich.text import Text
from textual import events
from textual.app import App, ComposeResult

from cnn_tui.benchmarks.editor_stall import big_architecture
from cnn_tui.core.draft import ArchitectureDraft
from cnn_tui.core.shapes import analyze
from cnn_tui.core.spec import Architecture
from cnn_tui.ui.editor.layer_table import LayerTable, TableRows, table_rows


def rows_of(layers: list[dict]) -> TableRows:
    draft = ArchitectureDraft(Architecture(()), (1, 28, 28))
    draft.layers = layers
    return table_rows(draft, analyze({"input": [1, 28, 28], "layers": layers}), {})


@pytest.fixture(scope="module")
def big() -> list[dict]:
    return big_architecture(40_001)["layers"]


class TableApp(App):
    """A LayerTable alone, recording the messages it posts."""

    def __init__(self, rows: TableRows) -> None:
        super().__init__()
        self.rows = rows
        self.highlighted: list[int] = []
        self.selected: list[int] = []

    def compose(self) -> ComposeResult:
        yield LayerTable()

    def on_mount(self) -> None:
        self.query_one(LayerTable).show(self.rows)

    def on_layer_table_row_highlighted(self, event: LayerTable.RowHighlighted) -> None:
        self.highlighted.append(event.cursor_row)

    def on_layer_table_row_selected(self, event: LayerTable.RowSelected) -> None:
        self.selected.append(event.cursor_row)


def line_text(table: LayerTable, y: int) -> str:
    return table.render_line(y).text


def shown(table: LayerTable) -> range:
    """The rows on screen below the header."""
    top = table.scroll_offset.y
    return range(top, top + table.scrollable_content_region.height - 1)


async def test_showing_40000_layers_takes_well_under_a_frame(big):
    """Every show() of 40,000 rows, cells changed in place or rows rebuilt, costs the lines on
    screen, all rows there at once. (A DataTable walked every row after each update, ~0.1 s,
    so it was filled a chunk per frame.)"""
    changed = [dict(layer, out_features=101) if layer["type"] == "linear" else layer for layer in big]
    tables = [rows_of(big), rows_of(changed), rows_of(big[:-1])]  # the same count, then one row fewer
    app = TableApp(tables[0])
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(LayerTable)
        times = []
        for i in range(12):
            start = time.perf_counter()
            table.show(tables[i % 3], keep_row=None if i % 3 else 20_000)
            drawn = [table.render_line(y) for y in range(table.size.height)]
            times.append(time.perf_counter() - start)
            assert drawn[-1].text.split()[0] == str(table.scroll_offset.y + table.size.height - 2)
            await pilot.pause()
        assert statistics.median(times) < 0.02, times
        assert table.row_count == 40_000 and table.cursor_row == 20_000
        assert table.get_row_at(39_999) == tables[2].cells[39_999]


async def test_a_row_scrolled_into_view_is_drawn_with_its_cells(big):
    rows = rows_of(big)
    app = TableApp(rows)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(LayerTable)
        table.move_cursor(row=30_001)
        await pilot.pause()
        assert 30_001 in shown(table)
        header = line_text(table, 0)
        assert header.split() == ["#", "layer", "settings", "output", "params", "MACs", "RF"]
        y = 30_001 - table.scroll_offset.y + 1
        assert line_text(table, y).split() == ["30001", "linear", "→10", "10", "110", "100", "–"]  # odd: linear
        assert line_text(table, y - 1).split() == ["30000", "relu", "10", "–", "–", "–"]
        assert table.render_line(y).cell_length == table.size.width
        assert line_text(table, 0).index("layer") == 2 + rows.widths[0] + 1  # cells padded to their column


async def test_keys_move_the_cursor_and_the_view_follows(big):
    app = TableApp(rows_of(big))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(LayerTable)
        table.focus()
        page = table.scrollable_content_region.height - 1
        await pilot.press("down", "down", "down")
        assert table.cursor_row == 3 and table.scroll_y == 0
        await pilot.press("pagedown")
        assert table.cursor_row == 3 + page and table.cursor_row in shown(table)
        await pilot.press("end")
        assert table.cursor_row == 40_000 and table.cursor_row in shown(table) and table.scroll_x == 0
        await pilot.press("up")
        assert table.cursor_row == 39_999 and table.cursor_row in shown(table)
        await pilot.press("pageup")
        assert table.cursor_row == 39_999 - page and table.cursor_row in shown(table)
        await pilot.press("home")
        assert table.cursor_row == 0 and table.scroll_y == 0
        await pilot.press("up")  # stays on the first row
        assert table.cursor_row == 0
        assert app.highlighted == [1, 2, 3, 3 + page, 40_000, 39_999, 39_999 - page, 0]


async def test_a_click_moves_the_cursor_and_a_second_selects_the_row(big):
    app = TableApp(rows_of(big[:100]))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(LayerTable)
        await pilot.click(LayerTable, offset=(5, 0))  # the header: nothing
        assert table.cursor_row == 0 and app.highlighted == []
        await pilot.click(LayerTable, offset=(5, 4))
        assert table.cursor_row == 3 and app.highlighted == [3] and app.selected == []
        await pilot.click(LayerTable, offset=(5, 4))
        assert app.selected == [3]
        table.scroll_to(y=50, animate=False)
        await pilot.pause()
        await pilot.click(LayerTable, offset=(5, 1))  # the first row below the header
        assert table.cursor_row == 50
        await pilot.press("enter")
        assert app.selected == [3, 50]


async def test_the_mouse_wheel_scrolls_the_rows(big):
    app = TableApp(rows_of(big[:100]))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(LayerTable)
        for _ in range(3):
            table.post_message(events.MouseScrollDown(table, 5, 5, 0, 1, 0, False, False, False))
        await pilot.pause()
        assert table.scroll_y > 0 and table.cursor_row == 0  # the view moves, the cursor stays
        assert line_text(table, 0).split()[0] == "#"  # the header stays
        assert line_text(table, 1).split()[0] == str(table.scroll_offset.y)


async def test_cells_changed_in_place_post_no_highlight_and_keep_the_view(big):
    """An edit's new numbers, same rows and cursor: the field being typed in keeps its focus."""
    layers = big[:1001]
    app = TableApp(rows_of(layers))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(LayerTable)
        table.move_cursor(row=501)  # a linear layer
        await pilot.pause()
        top = table.scroll_y
        app.highlighted.clear()
        changed = [dict(layer, out_features=7) if layer["type"] == "linear" else layer for layer in layers]
        table.show(rows_of(changed))
        table.show(rows_of(changed), keep_row=501)
        await pilot.pause()
        assert app.highlighted == [] and table.cursor_row == 501 and table.scroll_y == top
        assert "→7" in line_text(table, 501 - table.scroll_offset.y + 1)
        table.show(rows_of(layers[:10]))  # fewer rows: the cursor comes back within them
        await pilot.pause()
        assert app.highlighted == [9] and table.cursor_row == 9 and table.scroll_y == 0


async def test_styled_cells_keep_their_styles_and_the_fixed_columns_stay_when_scrolled_sideways():
    cells = [["0", "conv2d", "6@5×5 s1 p0", "6×24×24", "156", "", ""],  # the cursor's row
             ["1", Text("relu", style="dim"), "[not markup]", Text("✗ invalid", style="bold red"), "", "", ""]]
    app = TableApp(TableRows(cells, [1, 6, 12, 9, 6, 4, 2]))
    async with app.run_test(size=(24, 8)) as pilot:
        table = app.query_one(LayerTable)
        assert line_text(table, 2).split()[:3] == ["1", "relu", "[not"]  # a str is plain text
        table.scroll_to(x=14, animate=False)
        await pilot.pause()
        assert table.scroll_x == 14
        line = table.render_line(2)
        assert line.text.split()[:2] == ["1", "relu"]  # # and layer stay in view
        assert line.cell_length == table.size.width
        assert [s.style.dim for s in line if s.text.strip() == "relu"] == [True]
        invalid = [s for s in line if "invalid" in s.text]
        assert invalid and invalid[0].style.bold and invalid[0].style.color.name == "red"


async def test_a_text_cell_of_one_style_is_drawn_as_rich_draws_it():
    # Such cells (every layer's name) skip Rich's rendering, which took ~15 µs a cell.
    from rich.segment import Segment
    from rich.style import Style
    from textual.strip import Strip

    app = TableApp(TableRows([["0", "conv2d", "", "", "", "", ""]], [1, 6, 12, 9, 6, 4, 2]))
    async with app.run_test(size=(24, 8)):
        table = app.query_one(LayerTable)
        style, over = Style(color="white", bgcolor="black"), Style(color="yellow")
        values = [Text("relu", style="bold"), Text("→ wide", style="dim italic"), Text("x", style=Style(underline=True)),
                  Text("plain"), Text("", style="dim"), Text("two", style="red").append("parts", style="green")]
        for value in values:
            width = value.cell_len + 3
            rich = Text.assemble(" ", value, " " * (width - value.cell_len) + " ", end="").render(app.console)
            expected = Strip([Segment(part.text, style + part.style + over) for part in rich]).simplify()
            assert list(Strip(table._cell(value, width, style, over)).simplify()) == list(expected), value


async def test_the_table_draws_a_line_again_only_when_its_look_changed(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.editor.table
        drawn = []
        draw = table._draw_line
        table._draw_line = lambda *args: (drawn.append(args[0]), draw(*args))[1]
        for _ in range(2):  # the focus leaves the table (the cursor's row and header change look) and comes back
            await pilot.press("tab")
            await pilot.pause()
            await pilot.press("shift+tab")
            await pilot.pause()
        assert app.focused is table
        drawn.clear()
        await pilot.press("tab", "shift+tab")  # both looks were drawn before: nothing is drawn again
        await pilot.pause()
        assert drawn == []
        await pilot.press("question_mark")  # a dialog over it, then gone: the screen is drawn again
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert drawn == []
        table.move_cursor(2)
        await pilot.pause()
        assert 0 < len(drawn) <= 2  # the old cursor row and the new one


async def test_the_vertical_scrollbar_is_always_there_and_drawn_as_textual_draws_it(make_app, tmp_path):
    # Always there: one that appears as the rows outgrow the table lays the screen out. It
    # is drawn in the table's colour while the rows fit, and straight from its segments
    # (Textual's drawing through Rich took ~2 ms, at each focus move into or out of the table).
    import json

    from textual.scrollbar import ScrollBar

    from cnn_tui.ui.row_table import QuickScrollBar

    def lines(strips):
        return [[(segment.text, segment.style) for segment in strip.simplify()] for strip in strips]

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        table = app.editor.table
        bar = table.vertical_scrollbar
        assert isinstance(bar, QuickScrollBar) and table.show_vertical_scrollbar and bar.display
        assert table.has_class("-fits")
        surface = table.styles.background.rich_color
        region = bar.size.region
        assert {segment.style.bgcolor for strip in bar.render_lines(region) for segment in strip} == {surface}
        for focus in (table.focus, lambda: app.pane.focus_config()):  # the bar's look follows the table's focus
            focus()
            await pilot.pause(0.1)
            assert lines(bar.render_lines(region)) == lines(ScrollBar.render_lines(bar, region))

        long = tmp_path / "long.json"
        long.write_text(json.dumps(big_architecture(101)))
        await app.editor.load(Architecture.load(long), "long.json")
        await pilot.pause(0.2)
        assert not table.has_class("-fits") and table.max_scroll_y > 0
        table.focus()
        for row in (0, 50, 100):  # the thumb at the top, in the middle and at the bottom
            table.move_cursor(row)
            await pilot.pause(0.1)
            region = bar.size.region
            drawn = bar.render_lines(region)
            assert lines(drawn) == lines(ScrollBar.render_lines(bar, region)), row
            assert len({segment.style for strip in drawn for segment in strip}) > 1  # a thumb on a track
        crop = region.crop_size((1, 5)).translate((0, 3))  # part of it, as a redraw of a few rows asks
        assert lines(bar.render_lines(crop)) == lines(ScrollBar.render_lines(bar, crop))
