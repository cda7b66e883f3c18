"""Sessions are hours of someone's GPU time: one writer, no links followed, nothing trusted
that a crash or a hand could have damaged, and output trouble never stops a run."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cnn_tui.core.config import TrainConfig
from cnn_tui.core.presets import preset
from cnn_tui.core.sessions import SessionError, SessionStore, new_record
from cnn_tui.core.trainer import TrainingRefused, train

from ..test_cli_train import SMALL, cli

TINY = dict(dataset="synthetic", train_size=200, test_size=50)


def trained(tmp_path, name="s", epochs=2):
    store = SessionStore(tmp_path / "sessions")
    ended = train(preset("seed"), TrainConfig(**TINY, epochs=epochs), store, name)
    assert ended.status == "finished"
    return store


def start(*args):
    return subprocess.Popen([sys.executable, "-m", "cnn_tui", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_processes_creating_one_session_one_wins(tmp_path):
    args = ["train", *SMALL, "--epochs", "2", "--session", "same", "--sessions-dir", str(tmp_path)]
    procs = [start(*args) for _ in range(3)]
    results = [(p.wait(timeout=120), p.communicate()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2, 2], results
    for code, (_, err) in results:
        if code == 2:
            assert "already exists" in err or "in use by another process" in err
    rows, _ = SessionStore(tmp_path).open("same").read_metrics()
    assert [row["epoch"] for row in rows] == [0, 1]


def test_two_resumes_at_once_one_wins(tmp_path):
    store = trained(tmp_path, "r", epochs=1)
    args = ["train", "--session", "r", "--resume", "--epochs", "3", "--sessions-dir", str(store.root)]
    procs = [start(*args) for _ in range(2)]
    codes = sorted(p.wait(timeout=120) for p in procs)
    assert codes == [0, 2]
    rows, _ = store.open("r").read_metrics()
    assert [row["epoch"] for row in rows] == [0, 1, 2]  # not 0, 1, 1, 2, 2


def test_in_process_claims_are_exclusive(tmp_path):
    store = SessionStore(tmp_path)
    with store.create("c", new_record(preset("seed"), TrainConfig(**TINY), "cpu")) as session:
        assert session.live and store.open("c").live
        with pytest.raises(SessionError, match="in use by another process"):
            store.claim("c")
        with pytest.raises(SessionError, match="already exists|in use"):
            store.create("c", new_record(preset("seed"), TrainConfig(**TINY), "cpu"))
        with pytest.raises(SessionError, match="read-only"):
            store.open("c").set_status("finished")  # a reader cannot write
    assert store.open("c").status == "interrupted"  # claimed, then let go without a final status


def test_a_symlinked_metrics_file_is_never_followed(tmp_path):
    store = trained(tmp_path, "l", epochs=1)
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    metrics = store.root / "l" / "metrics.jsonl"
    metrics.unlink()
    metrics.symlink_to(outside)
    ended = train(None, TrainConfig(**TINY, epochs=2), store, "l", resume=True)
    assert ended.status == "failed" and "symbolic link" in ended.reason
    assert outside.read_text() == "precious\n"
    with pytest.raises(SessionError, match="symbolic link"):
        store.open("l").read_metrics()


def test_a_symlinked_session_folder_is_refused(tmp_path):
    store = trained(tmp_path, "real", epochs=1)
    (store.root / "alias").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(SessionError, match="outside"):
        store.open("alias")


@pytest.mark.parametrize("epoch", [-5, 10**6, "3", 1.5])
def test_a_checkpoint_epoch_that_disagrees_with_the_metrics_is_damage(tmp_path, epoch):
    import torch

    store = trained(tmp_path, "e", epochs=2)
    path = store.root / "e" / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    state["epoch"] = epoch
    torch.save(state, path)
    before = (store.root / "e" / "metrics.jsonl").read_text()
    with pytest.raises(SessionError, match=r"checkpoint.pt: damaged"):
        store.open("e").load_checkpoint()
    ended = train(None, TrainConfig(**TINY, epochs=4), store, "e", resume=True)
    assert ended.status == "failed" and "checkpoint.pt: damaged" in ended.reason
    assert (store.root / "e" / "metrics.jsonl").read_text() == before  # nothing rewritten


def test_temporary_files_of_a_killed_write_are_removed_when_claimed(tmp_path):
    store = trained(tmp_path, "t", epochs=1)
    folder = store.root / "t"
    for stale in (".checkpoint.pt.abc123.tmp", ".session.json.x9.tmp"):
        (folder / stale).write_bytes(b"half")
    store.claim("t").release()
    assert not list(folder.glob(".*.tmp"))


@pytest.mark.parametrize("field, value, named", [
    (("config", "epochs"), "many", "epochs is 'many'"),
    (("config", "lr"), -1, "config: lr must be a positive number"),
    (("epochs_done",), "x", "epochs_done is 'x'"),
    (("status",), 7, "status is 7"),
    (("architecture", "layers"), "nope", "architecture"),
])
def test_a_damaged_field_skips_that_session_and_names_it(tmp_path, field, value, named):
    store = trained(tmp_path, "good", epochs=1)
    train(preset("seed"), TrainConfig(**TINY, epochs=1), store, "bad")
    file = store.root / "bad" / "session.json"
    meta = json.loads(file.read_text())
    target = meta
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = value
    file.write_text(json.dumps(meta))
    infos, problems = store.list()
    assert [info.name for info in infos] == ["good"]
    assert len(problems) == 1 and "bad/session.json: damaged" in problems[0] and named in problems[0]
    listing = cli("sessions", "--sessions-dir", str(store.root))
    assert listing.returncode == 0 and "good" in listing.stdout and "Traceback" not in listing.stderr
    assert "bad/session.json: damaged" in listing.stderr


def test_metrics_written_twice_are_named_not_trusted(tmp_path):
    store = trained(tmp_path, "dup", epochs=2)
    metrics = store.root / "dup" / "metrics.jsonl"
    lines = metrics.read_text().splitlines(keepends=True)
    metrics.write_text(lines[0] + lines[0] + lines[1])  # what two writers used to leave
    with pytest.raises(SessionError, match="two runs wrote this session"):
        store.open("dup").read_metrics()


def test_a_full_disk_is_named_and_recorded(tmp_path, monkeypatch):
    from cnn_tui.core import sessions

    real_write = os.write

    def full(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("metrics.jsonl"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(sessions.os, "write", full)
    store = SessionStore(tmp_path)
    ended = train(preset("seed"), TrainConfig(**TINY, epochs=1), store, "full")
    assert ended.status == "failed" and "no space left on device" in ended.reason
    assert store.open("full").record.status == "failed"


def test_a_sessions_dir_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    result = cli("train", *SMALL, "--epochs", "1", "--sessions-dir", str(tmp_path / "file"))
    assert result.returncode == 2 and "is a file, not a folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("name", [".hidden", ".x", "..."])
def test_hidden_names_are_refused(tmp_path, name):
    result = cli("train", *SMALL, "--epochs", "1", "--session", name, "--sessions-dir", str(tmp_path))
    assert result.returncode == 2 and "invalid session name" in result.stderr


def test_a_closed_stdout_is_not_a_training_failure(tmp_path):
    command = (f"{sys.executable} -m cnn_tui train {' '.join(SMALL)} --epochs 3 --session p "
               f"--sessions-dir {tmp_path} | head -1")
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    assert result.stdout.startswith("epoch 0 total_correct:")
    session = SessionStore(tmp_path).open("p")
    assert session.status == "finished" and session.epochs_done == 3


def test_a_hung_up_terminal_does_not_stop_a_cli_run(tmp_path):
    master, slave = os.openpty()
    args = ["train", *SMALL, "--train-size", "3000", "--epochs", "6", "--session", "h", "--sessions-dir", str(tmp_path)]
    proc = subprocess.Popen([sys.executable, "-m", "cnn_tui", *args], stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    metrics = tmp_path / "h" / "metrics.jsonl"
    deadline = time.time() + 120
    while not (metrics.exists() and metrics.read_text().count("\n") >= 1):
        assert time.time() < deadline and proc.poll() is None
        os.read(master, 65536) if _readable(master) else time.sleep(0.05)
    os.close(master)  # the terminal is gone: writes now fail with EIO
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=120) == 0
    session = SessionStore(tmp_path).open("h")
    assert session.status == "finished" and session.epochs_done == 6
    assert session.record.terminal_lost  # recorded


def _readable(fd: int) -> bool:
    import select

    return bool(select.select([fd], [], [], 0.05)[0])


def test_resume_refuses_a_live_session_and_says_how_to_watch(tmp_path):
    store = SessionStore(tmp_path)
    with store.create("busy", new_record(preset("seed"), TrainConfig(**TINY), "cpu")):
        with pytest.raises(TrainingRefused, match="cnn-tui watch busy"):
            train(None, TrainConfig(**TINY, epochs=2), store, "busy", resume=True)
