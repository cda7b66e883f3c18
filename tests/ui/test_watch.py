"""The training view fed by another process: `cnn-tui watch`, and the app outliving its terminal."""

from __future__ import annotations

import os
import pty
import select
import sys
import time

from cnn_tui.core.sessions import SessionStore
from cnn_tui.ui.app import CnnTuiApp

from ..test_background import LONG, detach, pid_of, wait_dead
from ..test_cli_train import SMALL
from .conftest import wait_for


def rows(app) -> int:
    return app.query_one("#epochs").row_count


async def test_watch_shows_epochs_arrive_pauses_and_stops_a_background_run(tmp_path):
    assert detach(tmp_path, "w", *LONG)[0].returncode == 0
    store = SessionStore(tmp_path)
    pid = pid_of(store, "w")
    app = CnnTuiApp(session="w", sessions_dir=str(tmp_path), watch=True, probe_device=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.following and rows(app) >= 1)
        seen = rows(app)
        await wait_for(pilot, lambda: rows(app) > seen)  # epochs keep arriving as they finish
        await wait_for(pilot, lambda: "img/s" in str(app.query_one("#progress-text").render()))
        assert "CPU" in str(app.query_one("#system").render())  # the system panel of the other process
        await pilot.press("p")
        await wait_for(pilot, lambda: "paused" in str(app.query_one("#state").render()))
        system = str(app.query_one("#system").render())
        assert "CPU" not in system and "RAM" in system  # its CPU use from before the pause is not shown as now
        await pilot.press("p")
        await wait_for(pilot, lambda: "training" in str(app.query_one("#state").render()))
        await wait_for(pilot, lambda: "CPU" in str(app.query_one("#system").render()))
        await pilot.press("t")  # cannot train over a run that is being watched
        assert app.following and not app.training
        await pilot.press("s")
        await wait_for(pilot, lambda: "stopped" in str(app.query_one("#state").render()))
        assert not app.following and "CPU" not in str(app.query_one("#system").render())
    wait_dead(pid)
    session = store.open("w")
    assert session.status == "stopped"
    assert session.load_checkpoint().epoch == session.epochs_done


async def test_watching_a_finished_session_is_read_only(tmp_path):
    from cnn_tui.core.config import TrainConfig
    from cnn_tui.core.presets import preset
    from cnn_tui.core.trainer import train

    store = SessionStore(tmp_path)
    train(preset("seed"), TrainConfig(dataset="synthetic", train_size=200, test_size=50, epochs=2), store, "old")
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "old").iterdir()}
    app = CnnTuiApp(session="old", sessions_dir=str(tmp_path), watch=True, probe_device=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: rows(app) == 2 and "finished" in str(app.query_one("#state").render()))
        assert "2/2 epochs done" in str(app.query_one("#progress-text").render())  # its target, not the app's 5
        await pilot.press("s")  # nothing to stop: says so, writes nothing
        await pilot.pause()
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "old").iterdir()}
    assert after == before


def test_the_app_trains_on_after_its_terminal_hangs_up(tmp_path):
    args = [sys.executable, "-m", "cnn_tui", *SMALL, "--train-size", "6000", "--epochs", "5",
            "--sessions-dir", str(tmp_path)]
    pid, master = pty.fork()
    if pid == 0:  # the child: the app on a real terminal of 120×40
        os.environ.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
        os.execv(sys.executable, args)
    import fcntl
    import struct
    import termios

    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    store = SessionStore(tmp_path)

    def drain(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    return

    deadline = time.monotonic() + 60
    while not store.list()[0]:
        assert time.monotonic() < deadline, "the app never started training"
        drain(0.5)
        os.write(master, b"t")
    name = store.list()[0][0].name
    while not store.open(name).read_metrics()[0]:
        assert time.monotonic() < deadline
        drain(0.2)
    os.close(master)  # the terminal goes away: SIGHUP, and EIO on every write
    _, status = os.waitpid(pid, 0)
    session = store.open(name)
    assert session.status == "finished" and session.epochs_done == 5, session.reason
    assert [r["epoch"] for r in session.read_metrics()[0]] == [0, 1, 2, 3, 4]
    assert session.record.terminal_lost  # recorded: the hang-up came while it trained
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_system_panel_shows_each_process_of_a_distributed_run_and_the_slowest():
    from cnn_tui.ui.training.system_panel import system_lines

    ranks = [{"rank": 0, "device": "cpu", "forward_images_per_second": 20000.0, "memory_bytes": 300_000_000},
             {"rank": 1, "device": "cpu", "forward_images_per_second": 9000.0, "memory_bytes": 290_000_000}]
    lines = system_lines({"device": "cpu", "threads": 1, "ranks": ranks})
    assert lines[1:] == ["rank 0 · cpu · forward 20,000 img/s · 300.0 MB",
                         "rank 1 · cpu · forward 9,000 img/s · 290.0 MB  ← slowest"]
    many = [{**ranks[0], "rank": i, "forward_images_per_second": 1000.0 * (i + 1)} for i in range(8)]
    assert system_lines({"device": "cpu", "ranks": many})[1:] == [
        "8 processes; the slowest and the fastest:",
        "rank 0 · cpu · forward 1,000 img/s · 300.0 MB  ← slowest",
        "rank 7 · cpu · forward 8,000 img/s · 300.0 MB"]
    even = [{**ranks[0], "rank": i, "forward_images_per_second": 30000.0 + i} for i in range(2)]
    assert "slowest" not in " ".join(system_lines({"device": "cpu", "ranks": even}))  # noise is not news
    gpus = [{"rank": i, "device": f"cuda:{i}", "forward_images_per_second": None, "memory_bytes": 10**9}
            for i in range(8)]
    assert system_lines({"device": "cuda", "ranks": gpus})[-1] == "… and 5 more processes"


async def test_t_with_two_processes_trains_a_distributed_run_and_watches_it(make_app, tmp_path):
    from .conftest import notifications, small_config

    app = make_app(config=small_config(device="cpu", epochs=2))
    async with app.run_test(size=(120, 40)) as pilot:
        procs = app.query_one("#cfg-procs")
        procs.value = "two"
        await pilot.pause()
        assert procs.has_class("-invalid") and app.config_error.startswith("procs must be a whole number")
        procs.value = "2"
        app.query_one("#cfg-batch").value = "75"
        await pilot.pause()
        assert app.config_error is None and app.processes == "2"
        await pilot.press("t")
        await wait_for(pilot, lambda: app.follower is not None, timeout=30)
        name = app.follower.name
        # the follower learns of the end before the pane shows it: wait for what the user sees
        await wait_for(pilot, lambda: rows(app) == 2 and "finished" in str(app.query_one("#state").render()),
                       timeout=120)
        assert app.follower.ended is not None and app.follower.ended.status == "finished"
        assert any("trains in the background" in n for n in notifications(app))
        assert "each batch of 75 is split over 2 processes as 1×38 and 1×37 images" in notifications(app)
    session = SessionStore(tmp_path / "sessions").open(name)
    assert session.status == "finished" and session.record.distributed["world_size"] == 2


def test_the_system_panel_says_when_the_thread_count_followed_the_machine():
    from cnn_tui.ui.training.system_panel import system_lines

    assert system_lines({"device": "cpu", "threads": 2, "threads_at_start": 2}) == ["cpu · 2 threads"]
    assert system_lines({"device": "cpu", "threads": 1, "threads_at_start": 2, "cpu_percent": 99.0}) == [
        "cpu · 1 thread · CPU 99% · 2 at the start: a core is busy elsewhere"]
    assert system_lines({"device": "cpu", "threads": 2, "threads_at_start": 1}) == [
        "cpu · 2 threads · 1 at the start: a core came free"]
    assert system_lines({"device": "cpu", "threads": 2}) == ["cpu · 2 threads"]  # a run from before
