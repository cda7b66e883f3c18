"""Runs that outlive the terminal: `train --detach`, following a live session, steering it
from another process, and what a watcher sees when the trainer dies."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from cnn_tui.core.events import BatchProgress, EpochFinished, TrainingEnded, TrainingStarted
from cnn_tui.core.follow import SessionFollower
from cnn_tui.core.sessions import SessionError, SessionStore

from .test_cli_train import SMALL, cli

LONG = [*SMALL, "--train-size", "3000", "--epochs", "60"]  # ~0.3 s an epoch: long enough to steer


def detach(tmp_path, name, *extra):
    started = time.monotonic()
    result = cli("train", "--detach", *extra, "--session", name, "--sessions-dir", str(tmp_path))
    return result, time.monotonic() - started


def pid_of(store, name, timeout=60):
    """The background trainer's pid, once it has taken over the session."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session = store.open(name)
        if session.record.started and session.live:
            return session.record.pid
        time.sleep(0.05)
    raise AssertionError(f"session {name} never started; log: {store.open(name).log_file.read_text()}")


def follow_until(follower, condition, timeout=60):
    """Poll like the watcher does (4 times a second) until condition(all events so far)."""
    events = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events.extend(follower.poll())
        if condition(events):
            return events
        time.sleep(0.25)
    raise AssertionError(f"the follower never saw it; got {[type(e).__name__ for e in events]}")


def wait_dead(pid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still alive")


def test_detach_returns_at_once_and_the_run_goes_on_alone(tmp_path):
    result, seconds = detach(tmp_path, "bg", *SMALL, "--epochs", "2")
    assert result.returncode == 0, result.stderr
    assert "cnn-tui watch bg --sessions-dir" in result.stdout and "train.log" in result.stdout
    assert seconds < 5  # no torch import in the foreground: ~0.1 s here
    store = SessionStore(tmp_path)
    follower = SessionFollower(store, "bg")
    events = follow_until(follower, lambda evs: any(isinstance(e, TrainingEnded) for e in evs))
    assert [e.epoch for e in events if isinstance(e, EpochFinished)] == [0, 1]
    assert events[-1].status == "finished"
    session = store.open("bg")
    assert session.status == "finished" and session.record.detached is True
    assert session.record.pid != os.getpid()
    log = session.log_file.read_text()
    assert "epoch 1 total_correct:" in log  # the trainer's output went to the session's log


def test_detach_also_resumes_a_session(tmp_path):
    assert cli("train", *SMALL, "--epochs", "1", "--session", "more", "--sessions-dir", str(tmp_path)).returncode == 0
    result, _ = detach(tmp_path, "more", "--resume", "--epochs", "2")
    assert result.returncode == 0, result.stderr
    store = SessionStore(tmp_path)
    events = follow_until(SessionFollower(store, "more"), lambda evs: any(isinstance(e, TrainingEnded) for e in evs))
    assert events[-1].status == "finished" and store.open("more").epochs_done == 2
    assert [row["epoch"] for row in store.open("more").read_metrics()[0]] == [0, 1]


@pytest.mark.parametrize("args, message", [
    (["--lr", "-1"], "--lr must be a positive number"),
    (["--dataset", "fashion-mnist", "--data-dir", "/nowhere"], "--dataset synthetic"),
    (["--session", "../x"], "invalid session name"),
])
def test_detach_checks_in_the_foreground(tmp_path, args, message):
    result = cli("train", "--detach", *SMALL, "--sessions-dir", str(tmp_path / "s"), *args,
                 env={**os.environ, "CNN_TUI_DATA": ""})
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()  # nothing written, nothing started


def test_detach_refuses_an_existing_name(tmp_path):
    assert cli("train", *SMALL, "--epochs", "1", "--session", "x", "--sessions-dir", str(tmp_path)).returncode == 0
    result, _ = detach(tmp_path, "x", *SMALL)
    assert result.returncode == 2 and "already exists" in result.stderr


def test_watchers_pause_resume_and_stop_a_background_run(tmp_path):
    assert detach(tmp_path, "steer", *LONG)[0].returncode == 0
    store = SessionStore(tmp_path)
    pid = pid_of(store, "steer")
    watcher_a, watcher_b = SessionFollower(store, "steer"), SessionFollower(store, "steer")
    follow_until(watcher_a, lambda evs: any(isinstance(e, EpochFinished) for e in evs))
    first = watcher_b.poll()
    assert isinstance(first[0], TrainingStarted) and any(isinstance(e, EpochFinished) for e in first)

    store.send_control("steer", "pause")  # watcher A pauses
    follow_until(watcher_b, lambda evs: any(isinstance(e, BatchProgress) and e.state == "paused" for e in evs))
    before = store.open("steer").read_progress()
    epochs_before = len(store.open("steer").read_metrics()[0])
    time.sleep(1.5)
    assert store.open("steer").read_progress()["batch"] == before["batch"]  # really paused: no batch advanced
    assert len(store.open("steer").read_metrics()[0]) == epochs_before

    store.send_control("steer", "resume")  # watcher B resumes
    follow_until(watcher_a, lambda evs: any(isinstance(e, BatchProgress) and e.state == "training"
                                            and (e.epoch, e.batch) != (before["epoch"], before["batch"]) for e in evs))
    store.send_control("steer", "stop")
    ended = follow_until(watcher_a, lambda evs: any(isinstance(e, TrainingEnded) for e in evs))[-1]
    assert ended.status == "stopped" and "resume continues" in ended.reason
    wait_dead(pid)
    session = store.open("steer")
    assert session.status == "stopped"
    assert session.load_checkpoint().epoch == session.epochs_done == len(session.read_metrics()[0])
    result = cli("train", "--session", "steer", "--resume", "--epochs", str(session.epochs_done + 1),
                 "--sessions-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr  # resumable
    with pytest.raises(SessionError, match="not training"):
        store.send_control("steer", "stop")


def test_a_killed_trainer_is_reported_as_died(tmp_path):
    assert detach(tmp_path, "dies", *LONG)[0].returncode == 0
    store = SessionStore(tmp_path)
    pid = pid_of(store, "dies")
    follower = SessionFollower(store, "dies")
    follow_until(follower, lambda evs: any(isinstance(e, EpochFinished) for e in evs))
    os.kill(pid, signal.SIGKILL)
    ended = follow_until(follower, lambda evs: any(isinstance(e, TrainingEnded) for e in evs))[-1]
    assert ended.status == "interrupted" and "gone without a final status" in ended.reason
    listing = json.loads(cli("sessions", "--sessions-dir", str(tmp_path), "--json").stdout)
    assert listing[0]["status"] == "interrupted" and listing[0]["live"] is False


def test_sessions_marks_a_live_run_with_its_progress(tmp_path):
    assert detach(tmp_path, "live", *LONG)[0].returncode == 0
    store = SessionStore(tmp_path)
    pid_of(store, "live")
    follow_until(SessionFollower(store, "live"), lambda evs: any(isinstance(e, BatchProgress) for e in evs))
    listing = json.loads(cli("sessions", "--sessions-dir", str(tmp_path), "--json").stdout)[0]
    assert listing["live"] is True and listing["status"] == "running"
    assert listing["progress"]["epochs"] == 60 and listing["progress"]["images_per_second"] > 0
    table = cli("sessions", "--sessions-dir", str(tmp_path), env={**os.environ, "COLUMNS": "200"}).stdout
    assert "● epoch " in table and "/60" in table and "img/s" in table
    store.send_control("live", "stop")


def test_a_live_session_cannot_be_claimed_twice(tmp_path):
    assert detach(tmp_path, "mine", *LONG)[0].returncode == 0
    store = SessionStore(tmp_path)
    pid_of(store, "mine")
    result = cli("train", "--session", "mine", "--resume", "--epochs", "99", "--sessions-dir", str(tmp_path))
    assert result.returncode == 2 and "being trained by process" in result.stderr
    with pytest.raises(SessionError, match="in use by another process"):
        store.claim("mine")
    with pytest.raises(SessionError, match="in use by another process"):
        store.delete("mine")
    store.send_control("mine", "stop")


def test_follower_copes_with_a_torn_line_and_no_progress_file(tmp_path):
    from cnn_tui.core.config import TrainConfig
    from cnn_tui.core.presets import preset
    from cnn_tui.core.trainer import train

    store = SessionStore(tmp_path)
    train(preset("seed"), TrainConfig(dataset="synthetic", train_size=200, test_size=50, epochs=2), store, "done")
    folder = tmp_path / "done"
    (folder / "progress.json").unlink()
    metrics = folder / "metrics.jsonl"
    full = metrics.read_text().splitlines(keepends=True)
    metrics.write_text(full[0] + full[1][:40])  # the second line is half-written
    follower = SessionFollower(store, "done")
    events = follower.poll()
    assert [e.epoch for e in events if isinstance(e, EpochFinished)] == [0]
    assert isinstance(events[-1], TrainingEnded) and events[-1].status == "finished"
    with open(metrics, "a") as handle:  # the line completes: it arrives whole, once
        handle.write(full[1][40:])
    assert follower._new_epochs() and [r["epoch"] for r in follower.rows] == [0, 1]
    assert follower.poll() == []  # a finished session says nothing more


def test_a_session_rewritten_by_a_resume_is_shown_again(tmp_path):
    from cnn_tui.core.config import TrainConfig
    from cnn_tui.core.presets import preset
    from cnn_tui.core.trainer import train

    store = SessionStore(tmp_path)
    config = TrainConfig(dataset="synthetic", train_size=200, test_size=50, epochs=2)
    train(preset("seed"), config, store, "again")
    follower = SessionFollower(store, "again")
    follower.poll()
    metrics = tmp_path / "again" / "metrics.jsonl"
    metrics.write_text(metrics.read_text().splitlines(keepends=True)[0])  # as a resume from epoch 1 leaves it
    events = follower._new_epochs()
    assert type(events[0]).__name__ == "EpochsReplaced" and [r["epoch"] for r in events[0].rows] == [0]


def test_watch_of_an_unknown_session_is_one_line(tmp_path):
    result = cli("watch", "nope", "--sessions-dir", str(tmp_path))
    assert result.returncode == 2 and "no session 'nope'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
