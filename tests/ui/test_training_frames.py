"""What keeps the training pane's frames short: a chart is never built in the frame that
resizes it, one chart is built at a time, and new data draws no chart before its figure is
built; a layout pass of the pane draws nothing of the editor and lays the screen out once;
the epoch table is as tall as its rows."""

from __future__ import annotations

from textual.screen import Screen

from cnn_tui.ui.training.charts import MetricChart
from cnn_tui.ui.training.epoch_table import MOST_ROWS_SHOWN, EpochTable

from .conftest import count_layouts, record_renders, wait_for


def row(epoch: int) -> dict:
    return {"epoch": epoch, "total_loss": 30.0, "total_correct": 500, "samples": 600, "train_accuracy": 0.8,
            "test_loss": 0.5, "test_accuracy": 0.7, "seconds": 1.0, "batches": 12}


def record_frames(app, monkeypatch) -> list[str]:
    """From now on: "layout" as a layout pass starts, "frame" as a frame has been drawn,
    "build <chart id>" as plotext starts building a chart's figure and "built <chart id>" as it
    has, "drawn <chart id>" or "old drawn <chart id>" as a chart is drawn with the figure for
    its data now or with an older one."""
    events: list[str] = []
    refresh_layout, compositor_refresh = Screen._refresh_layout, Screen._compositor_refresh

    def layout(screen, *args, **kwargs):
        if screen is app.screen:
            events.append("layout")
        return refresh_layout(screen, *args, **kwargs)

    def frame(screen):
        result = compositor_refresh(screen)
        if screen is app.screen:
            events.append("frame")
        return result

    monkeypatch.setattr(Screen, "_refresh_layout", layout)
    monkeypatch.setattr(Screen, "_compositor_refresh", frame)
    build = MetricChart._build  # in the thread that waits for the figure worker, or builds it

    def built(chart, *args, **kwargs):
        events.append(f"build {chart.id}")
        text = build(chart, *args, **kwargs)
        events.append(f"built {chart.id}")
        return text

    monkeypatch.setattr(MetricChart, "_build", built)
    render_lines = MetricChart.render_lines

    def drawn(chart, crop):
        lines = render_lines(chart, crop)
        events.append(f"{'' if chart.up_to_date else 'old '}drawn {chart.id}")
        return lines

    monkeypatch.setattr(MetricChart, "render_lines", drawn)
    return events


def one_build_at_a_time(events: list[str]) -> list[str]:
    """The charts built, in order, each build ended before the next began."""
    builds = [event for event in events if event.startswith(("build ", "built "))]
    assert builds[1::2] == [event.replace("build", "built") for event in builds[::2]], builds
    return sorted(event.split()[1] for event in builds[::2])


def frames_of(events: list[str]) -> list[list[str]]:
    """The events grouped by the frame they ended in."""
    frames: list[list[str]] = [[]]
    for event in events:
        if event == "frame":
            frames.append([])
        else:
            frames[-1].append(event)
    return frames


async def test_a_resized_chart_is_built_in_a_later_frame_and_one_chart_at_a_time(make_app, monkeypatch):
    # Built in the frame that resized them (the epoch table grew), the two charts added 9-15
    # ms on 2 cores to a frame that already held a layout pass and the table's new rows.
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        charts = list(app.query(MetricChart))
        heights = [chart.size.height for chart in charts]
        events = record_frames(app, monkeypatch)
        app.query_one(EpochTable).make_room(6)  # four rows taller: both charts shrink
        await pilot.pause(0.2)
        assert [chart.size.height for chart in charts] != heights
        frames = frames_of(events)
        resized = next(frame for frame in frames if "layout" in frame)
        assert not [event for event in resized if event.startswith("build")]
        assert one_build_at_a_time(events) == ["acc-chart", "loss-chart"]
        for chart in charts:  # each shows the figure for its new size
            assert chart.figure().key[0] == chart.size
            drawn = chart.render_lines(chart.region.reset_offset)
            assert [line.text for line in drawn] == [line.text for line in chart.figure().lines]
            assert len(drawn) == chart.size.height


async def test_a_layout_pass_of_the_training_pane_draws_nothing_of_the_editor(make_app, monkeypatch):
    # Textual asks every scrollable widget's scrollbar to draw itself again at each layout
    # pass. The layer table's, asked though it looked the same, stretched the frame's update
    # box over both panes, and every widget of both was drawn again (8-9 ms on 2 cores).
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        passes = count_layouts(app.screen)
        drawn = record_renders(monkeypatch)
        app.query_one(EpochTable).make_room(6)
        await pilot.pause(0.2)
        assert app.query_one(EpochTable).size.height == 8
        assert not [widget for widget in drawn if app.editor in widget.ancestors]  # its own edge may be
        # The charts' new sizes ask for no second pass (they have no scrollbars to fit).
        assert len(passes) == 1


async def test_the_layer_tables_scrollbar_is_drawn_again_when_it_changes(make_app, tmp_path):
    from cnn_tui.benchmarks.editor_stall import big_architecture
    from cnn_tui.core.spec import Architecture

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        bar = app.editor.table.vertical_scrollbar
        fits = bar.render_lines(bar.region.reset_offset)
        await app.editor.load(Architecture.from_dict(big_architecture(101)), "big")
        await pilot.pause(0.2)
        scrolls = bar.render_lines(bar.region.reset_offset)
        assert scrolls != fits  # a thumb now
        app.editor.table.move_cursor(row=100)
        await pilot.pause(0.2)
        assert bar.render_lines(bar.region.reset_offset) != scrolls  # the thumb at the bottom


async def test_the_epoch_table_is_as_tall_as_its_rows_up_to_ten(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        table = app.query_one(EpochTable)
        assert table.size.height == 3  # the header and a blank row
        table.add_epoch(row(0))
        table.add_epoch(row(1))
        await pilot.pause(0.1)
        assert table.size.height == 4
        table.add_epoch({**row(1), "total_correct": 550})  # redone after a resume: replaced
        await pilot.pause(0.1)
        assert table.size.height == 4 and table.row_count == 2
        table.set_epochs([row(epoch) for epoch in range(14)])
        await pilot.pause(0.1)
        assert table.size.height == 12 and table.row_count == 14
        assert table.selected_epoch == 13 and table.scroll_y > 0  # the last row, scrolled to
        assert not table.make_room(14)  # no new height: nothing to lay out
        table.set_epochs([])
        await pilot.pause(0.1)
        assert table.size.height == 3 and table.selected_epoch is None


async def test_a_session_opened_builds_each_chart_once_after_its_data(make_app, tmp_path, monkeypatch):
    # The first time, the epoch table grows for the session's rows and the charts shrink:
    # until its data comes, each chart shows the figure it had rather than build one for the
    # old data at its new size. The second time (as many epochs): no layout pass at all.
    from .test_compare_export import sessions

    sessions(tmp_path)
    app = make_app()
    set_data = MetricChart.set_data

    def data(chart, series):
        events.append(f"data {chart.id}")
        return set_data(chart, series)

    monkeypatch.setattr(MetricChart, "set_data", data)  # LossChart's too
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        for time in ("first", "again"):
            await pilot.press("o")
            # the list up and its options focused, as a person sees it before pressing enter
            await wait_for(pilot, lambda: app.screen.__class__.__name__ == "SessionsScreen"
                           and app.screen.focused is not None, timeout=5)
            await pilot.pause(0.2)
            events = record_frames(app, monkeypatch)
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.session_name == "base", timeout=10)
            await pilot.pause(0.2)
            shown = [event for event in events if event.startswith(("data", "build "))]
            assert sorted(shown) == ["build acc-chart", "build loss-chart", "data acc-chart", "data loss-chart"], time
            assert all(shown.index(f"build {chart}") > shown.index(f"data {chart}") for chart in ("loss-chart", "acc-chart"))
            frames = frames_of(events)
            assert not [frame for frame in frames if "layout" in frame and any(e.startswith("build") for e in frame)]
            if time == "first":
                assert app.query_one(EpochTable).size.height == 5
            else:
                assert "layout" not in events


async def test_the_first_progress_line_of_one_row_lays_nothing_out(make_app):
    # The line under the progress bar starts empty, one row tall: a first line that fits in
    # one row (a session opened: "finished · 3/3 epochs done") needs no layout pass.
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        passes = count_layouts(app.screen)
        app.pane.show_over("finished", 3)
        await pilot.pause(0.2)
        assert str(app.query_one("#progress-text").render()).startswith("finished · 3/")
        assert not passes
        app.pane.query_one("#progress").show_text("a line long enough to wrap onto a second row " * 2)
        await pilot.pause(0.2)
        assert passes and app.query_one("#progress-text").size.height > 1  # two rows: laid out


async def test_an_epochs_end_draws_its_row_in_one_frame_and_each_chart_in_a_later_one(make_app, monkeypatch):
    # A run's epoch ends: the table gets taller for the new row (a layout pass) and both
    # charts get a point. All in one frame that was 25-30 ms on 2 cores. The first row takes
    # the empty table's row, and rows past ten scroll: those lay nothing out.
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        table = app.query_one(EpochTable)
        for epoch in range(MOST_ROWS_SHOWN + 2):
            events = record_frames(app, monkeypatch)
            app.pane.epoch_finished({**row(epoch), "batch_losses": [0.5] * 12})
            await pilot.pause(0.2)
            frames = frames_of(events)
            resized = [frame for frame in frames if "layout" in frame]
            if 0 < epoch < MOST_ROWS_SHOWN:
                assert len(resized) == 1 and not [event for event in resized[0] if event.startswith("build")]
            else:
                assert not resized, epoch
            assert one_build_at_a_time(events) == ["acc-chart", "loss-chart"]
            if not resized:  # the row's frame draws no chart: each is drawn as its new figure is built
                assert not [event for event in frames[0] if "drawn" in event], events
                assert {"drawn acc-chart", "drawn loss-chart"} <= set(events)
            assert table.size.height == 2 + min(epoch + 1, MOST_ROWS_SHOWN) and table.selected_epoch == epoch
            assert table.scroll_y == max(0, epoch + 1 - MOST_ROWS_SHOWN)  # every row it has room for
            assert table.render_line(table.size.height - 1).text.split()[0] == str(epoch + 1)  # the new row, shown
        accuracy = app.query_one("#acc-chart", MetricChart)
        assert accuracy.figure().key[0] == accuracy.size and len(accuracy.series["test"]) == MOST_ROWS_SHOWN + 2


async def test_a_run_makes_room_for_its_epochs_as_it_starts_and_its_epochs_lay_nothing_out(make_app, monkeypatch):
    from cnn_tui.core.events import BatchProgress, TrainingStarted

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        table = app.query_one(EpochTable)
        passes = count_layouts(app.screen)
        app.pane.started(TrainingStarted("run", "cpu", "a CPU", 0, 4, 600, 100, 6, 1000))
        await pilot.pause(0.2)
        assert table.size.height == 2 + 4 and len(passes) == 1  # the charts shrink once, now
        text = app.query_one("#progress-text")
        for epoch in range(4):
            # its progress lines, on two rows at this width (the first one laid the screen out)
            app.pane.progress(BatchProgress(epoch, 3, 6, 300, 12_345.0, 61.0, 0.4321, epochs=4))
            await pilot.pause(0.2)
            assert "batch 3/6 · 12,345 img/s" in str(text.render()) and text.size.height == 2
            app.pane.epoch_finished({**row(epoch), "batch_losses": [0.5] * 12})
            await pilot.pause(0.2)
            assert len(passes) == 1 and table.size.height == 6 and table.selected_epoch == epoch
        app.pane.show_over("finished", 4)  # over: the line takes the rows it needs again
        await pilot.pause(0.2)
        assert text.size.height == 1
        app.pane.show_epochs([])  # a new run, or another session: the room goes with the rows
        await pilot.pause(0.2)
        assert table.size.height == 3


async def test_at_80x24_the_newest_epoch_stays_on_screen(make_app):
    # In one pane at 80×24 a table of ten rows went past the screen's bottom, the newest
    # epoch (the cursor's row) under it.
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("v")  # the training pane
        await pilot.pause(0.2)
        table = app.query_one(EpochTable)
        app.pane.show_epochs([row(epoch) for epoch in range(12)])
        await pilot.pause(0.3)
        assert table.size.height == 2 + 24 // 4
        assert table.region.bottom <= 23  # above the key bar
        assert table.render_line(table.size.height - 1).text.split()[0] == "12"
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.3)
        assert table.size.height == 2 + MOST_ROWS_SHOWN


async def test_the_benchmark_measures_each_epoch_half_way_and_at_its_end():
    from cnn_tui.benchmarks.editor_stall import training_stalls

    stalls = await training_stalls(2, batches=40)
    assert [len(stalls[when]) for when in ("live", "end")] == [2, 2]
    assert all(wall > 0 and cpu > 0 for when in stalls.values() for wall, cpu in when)


async def test_a_chart_off_screen_builds_its_figure_when_it_is_shown_again(make_app, monkeypatch):
    # In one pane the training pane is hidden while the editor is shown, and a dialog may be
    # over both: a run's points keep coming, and building figures nobody sees would take the
    # interpreter from the editor or the dialog.
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        chart = app.query_one("#acc-chart", MetricChart)
        assert chart.up_to_date
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.3)
        assert not chart.is_on_screen
        events = record_frames(app, monkeypatch)
        chart.append("test", 1.0, 0.5)
        await pilot.pause(0.3)
        assert not chart.up_to_date and not [event for event in events if event.startswith("build ")]
        await pilot.press("v")  # the training pane
        await wait_for(pilot, lambda: chart.up_to_date, timeout=5)
        assert chart.is_on_screen and "acc-chart" in one_build_at_a_time(events)
        await pilot.pause(0.2)
        assert [event for event in events if event.endswith("drawn acc-chart")][-1] == "drawn acc-chart"
        await pilot.press("question_mark")  # help, over the screen
        await wait_for(pilot, lambda: app.screen is not chart.screen, timeout=5)
        events.clear()
        chart.append("test", 2.0, 0.6)
        await pilot.pause(0.3)
        assert not chart.up_to_date and not [event for event in events if event.startswith("build ")]
        await pilot.press("escape")
        await wait_for(pilot, lambda: chart.up_to_date, timeout=5)
        assert one_build_at_a_time(events) == ["acc-chart"]


async def test_an_epochs_row_draws_only_its_line_and_the_cursors_last_one(make_app, monkeypatch):
    # Every line of the table was drawn again for each row added (2-3 ms of an epoch's end).
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        table = app.query_one(EpochTable)
        table.reserve(6)
        for epoch in range(3):
            app.pane.epoch_finished({**row(epoch), "batch_losses": [0.5] * 12})
        await pilot.pause(0.2)
        drawn = []
        render_line = EpochTable.render_line
        monkeypatch.setattr(EpochTable, "render_line", lambda self, y: (drawn.append(y), render_line(self, y))[1])
        app.pane.epoch_finished({**row(3), "batch_losses": [0.5] * 12})
        await pilot.pause(0.2)
        header = table.header_rows
        assert table.selected_epoch == 3 and set(drawn) == {header + 2, header + 3}  # epoch 3's row, then 4's
        assert [table.render_line(header + r).text.split()[0] for r in range(4)] == ["1", "2", "3", "4"]
        drawn.clear()
        app.pane.epoch_finished({**row(3), "test_accuracy": 0.9, "batch_losses": [0.5] * 12})  # epoch 4 again
        await pilot.pause(0.2)
        assert "0.9000" in table.render_line(header + 3).text and drawn


async def test_a_scrolled_table_draws_its_header_in_the_focus_look(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        table = app.query_one(EpochTable)
        app.pane.show_epochs([row(epoch) for epoch in range(15)])
        await pilot.pause(0.2)
        assert table.scroll_y > 0
        header = table.get_component_rich_style
        for focused in (True, False):
            table.focus() if focused else app.editor.focus_layers()
            await pilot.pause(0.2)
            look = header("row-table--header-focused" if focused else "row-table--header").bgcolor
            drawn = app.screen._compositor.render_strips()[table.region.y]  # as on screen
            assert look in {segment.style.bgcolor for segment in drawn if segment.text.strip()}, focused
