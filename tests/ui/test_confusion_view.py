"""`m`: the confusion matrix of the epoch highlighted in the epoch table, after a run, live
while one trains, and for a session opened from disk."""

from __future__ import annotations

import json

from rich.console import Console

from cnn_tui.core.events import EpochFinished
from cnn_tui.core.sessions import SessionStore
from cnn_tui.ui.screens.confusion import ConfusionScreen
from cnn_tui.ui.training.epoch_table import EpochTable
from cnn_tui.ui.training_controller import TrainerUpdate

from .conftest import notifications, small_config, train_to_the_end, wait_for

CONFIG = dict(epochs=3, train_size=900, test_size=200)


def shown_text(screen: ConfusionScreen) -> str:
    """What the screen draws: its title, the matrix table and the pairs, as plain text."""
    console = Console(record=True, width=100)
    for widget in ("#confusion-title", "#confusion-matrix", "#confusion-pairs"):
        console.print(screen.query_one(widget).content)
    return console.export_text()


async def test_the_matrix_of_each_epoch_after_a_run(make_app, tmp_path):
    app = make_app(config=small_config(**CONFIG))
    async with app.run_test(size=(120, 40)) as pilot:
        await train_to_the_end(pilot, app)
        rows, _ = SessionStore(tmp_path / "sessions").open(app.session_name).read_metrics()
        assert len(rows) == 3
        await pilot.press("m")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfusionScreen)
        assert screen.epoch == 2  # the table's highlighted row: the last epoch
        assert [list(r) for r in screen.confusion.matrix] == rows[2]["confusion"]
        text = shown_text(screen)
        assert f"epoch 3 of 3 finished · test accuracy {rows[2]['test_accuracy']:.4f} ({rows[2]['test_correct']} of 200 images)" in text
        assert "0 class 0" in text and "9 class 9" in text and "most confused (true → predicted):" in text
        await pilot.press("left")
        assert screen.epoch == 1 and [list(r) for r in screen.confusion.matrix] == rows[1]["confusion"]
        assert "epoch 2 of 3 finished · " in shown_text(screen)
        await pilot.press("left", "left")  # stops at the first epoch
        assert screen.epoch == 0 and [list(r) for r in screen.confusion.matrix] == rows[0]["confusion"]
        await pilot.press("end")
        assert screen.epoch == 2
        await pilot.press("right")  # and at the last
        assert screen.epoch == 2
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ConfusionScreen)
        # the epoch highlighted in the table is the one shown
        table = app.query_one(EpochTable)
        table.focus()
        await pilot.press("up", "up")
        assert app.pane.selected_epoch == 0
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, ConfusionScreen) and app.screen.epoch == 0


async def test_a_session_opened_from_disk(make_app, tmp_path):
    trainer = make_app(config=small_config(**CONFIG))
    async with trainer.run_test(size=(120, 40)) as pilot:
        await train_to_the_end(pilot, trainer)
        name = trainer.session_name
    rows, _ = SessionStore(tmp_path / "sessions").open(name).read_metrics()
    app = make_app(session=name)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.shown is not None)
        await pilot.press("m")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfusionScreen) and screen.epoch == 2
        assert [list(r) for r in screen.confusion.matrix] == rows[2]["confusion"]
        assert screen.query_one("VerticalScroll").border_title == f"Confusion matrix · session {name}"
        await pilot.press("left")
        assert [list(r) for r in screen.confusion.matrix] == rows[1]["confusion"]


async def test_it_follows_new_epochs_while_a_run_trains(make_app):
    app = make_app(config=small_config(**CONFIG))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("t", "m")  # before any epoch has finished
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfusionScreen)
        await wait_for(pilot, lambda: screen.rows or not app.training)
        await wait_for(pilot, lambda: not app.training)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(screen.rows) == 3 and screen.epoch == 2  # it followed to the last epoch
        assert screen.confusion is not None and screen.confusion.total == 200
        # On an earlier epoch it stays there when another arrives; on the last, it follows.
        await pilot.press("home")
        extra = {**screen.rows[-1], "epoch": 3}
        app.post_message(TrainerUpdate(EpochFinished(extra)))
        await pilot.pause()
        assert len(screen.rows) == 4 and screen.epoch == 0
        await pilot.press("end")
        app.post_message(TrainerUpdate(EpochFinished({**extra, "epoch": 4})))
        await pilot.pause()
        assert len(screen.rows) == 5 and screen.epoch == 4 and "epoch 5 of 5 finished" in shown_text(screen)


async def test_waiting_for_the_first_epoch_says_so(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(ConfusionScreen([], "synthetic"))
        await pilot.pause()
        assert "no epoch has finished yet" in shown_text(app.screen)
        await pilot.press("left", "right", "home", "end")  # nothing to move to, nothing breaks
        await pilot.press("escape")


async def test_nothing_to_show_is_a_notice(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("m")
        await pilot.pause()
        assert not isinstance(app.screen, ConfusionScreen)
        assert any("no finished epoch to show" in n for n in notifications(app))


async def test_an_older_session_without_matrices(make_app, tmp_path):
    trainer = make_app(config=small_config(epochs=2))
    async with trainer.run_test(size=(120, 40)) as pilot:
        await train_to_the_end(pilot, trainer)
        name = trainer.session_name
    metrics = tmp_path / "sessions" / name / "metrics.jsonl"
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    metrics.write_text("".join(json.dumps({k: v for k, v in row.items() if k != "confusion"}) + "\n"
                               for row in rows))
    app = make_app(session=name)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.shown is not None)
        await pilot.press("m")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ConfusionScreen) and screen.confusion is None
        assert "this epoch has no confusion matrix: it was trained before cnn-tui recorded them" in shown_text(screen)
