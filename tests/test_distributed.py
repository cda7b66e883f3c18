"""Data-parallel runs through torchrun: two gloo processes on the CPU, synthetic data.

The numbers: a W-process run takes the same steps as a one-process run, its sums added in
another order. Measured here on these runs: training loss within 5e-6 relative, test loss
within 1.5e-4, correct counts equal. Adam divides each step by the root of the squared
gradients, so a rounding difference in a gradient near zero grows into a visible one in the
weights; the default fast mode against --exact shows the same size of difference (2.0443
against 2.0440 here). So the bound is the one the fast mode is held to: losses within
LOSS_TOLERANCE, correct counts within max(1, 0.5%). A real mistake (a batch counted twice,
an unscaled loss, a rank on other data) moves them by whole percents.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cnn_tui.core.distributed import shard, split_note
from cnn_tui.core.sessions import SessionStore

from .test_cli_train import cli

LOSS_TOLERANCE = 1e-3
# 610 images in batches of 75: shares of 38 and 37, and a last batch of 10 (5 and 5).
DATA = ["--dataset", "synthetic", "--train-size", "610", "--test-size", "150", "--batch-size", "75",
        "--device", "cpu"]


def metrics(sessions, name):
    rows, _ = SessionStore(sessions).open(name).read_metrics()
    return rows


def assert_same_numbers(a, b):
    assert [r["epoch"] for r in a] == [r["epoch"] for r in b]
    for one, many in zip(a, b):
        for key in ("total_correct", "test_correct"):
            assert abs(one[key] - many[key]) <= max(1, 0.005 * one[key]), key
        assert many["total_loss"] == pytest.approx(one["total_loss"], rel=LOSS_TOLERANCE)
        assert many["test_loss"] == pytest.approx(one["test_loss"], rel=LOSS_TOLERANCE)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The same run in one process: what every distributed run here must reproduce."""
    sessions = tmp_path_factory.mktemp("one")
    result = cli("train", *DATA, "--epochs", "2", "--session", "one", "--sessions-dir", str(sessions))
    assert result.returncode == 0, result.stderr
    return metrics(sessions, "one")


def test_shares_cover_the_batch_and_differ_by_at_most_one():
    for n, size in ((75, 2), (10, 3), (1, 2), (0, 4), (100, 4)):
        shares = [shard(5, 5 + n, rank, size) for rank in range(size)]
        assert shares[0][0] == 5 and shares[-1][1] == 5 + n
        assert all(a[1] == b[0] for a, b in zip(shares, shares[1:]))  # contiguous, no overlap
        lengths = [hi - lo for lo, hi in shares]
        assert max(lengths) - min(lengths) <= 1
    assert split_note(75, 2) == "each batch of 75 is split over 2 processes as 1×38 and 1×37 images"
    assert split_note(100, 4) is None


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """The same run in two gloo processes: its sessions folder and `cnn-tui train`'s result."""
    sessions = tmp_path_factory.mktemp("two")
    result = cli("train", *DATA, "--epochs", "2", "--session", "two", "--sessions-dir", str(sessions),
                 "--nproc-per-node", "2")
    assert result.returncode == 0, result.stderr
    return sessions, result


def test_two_processes_compute_what_one_computes(two_processes, one_process):
    tmp_path, result = two_processes
    assert "Traceback" not in result.stderr and "split over 2 processes as 1×38 and 1×37" in result.stderr
    assert result.stdout.count("epoch ") == 2  # rank 0's lines only
    assert_same_numbers(one_process, metrics(tmp_path, "two"))
    session = SessionStore(tmp_path).open("two")
    assert session.status == "finished" and session.epochs_done == 2
    assert session.record.distributed == {"world_size": 2, "backend": "gloo", "hosts": [os.uname().nodename] * 2}
    assert not any(key.startswith("module.") for key in session.load_checkpoint().model)  # not DDP's wrapper


def test_two_processes_add_their_confusion_matrices(two_processes):
    """Each rank counts its share of the test set; the recorded matrix is their sum. The
    shares are recounted here from the last checkpoint, one evaluation per rank's images."""
    import torch

    from cnn_tui.core.build import build_model
    from cnn_tui.core.data import Split, load_data
    from cnn_tui.core.trainer import evaluate

    sessions, _ = two_processes
    session = SessionStore(sessions).open("two")
    rows = metrics(sessions, "two")
    for row in rows:
        matrix = row["confusion"]
        assert sum(map(sum, matrix)) == row["test_samples"] == 150
        assert sum(matrix[i][i] for i in range(10)) == row["test_correct"]
    config = session.config
    model = build_model(session.architecture, config.input).to(memory_format=torch.channels_last)
    model.load_state_dict(session.load_checkpoint().model)
    _, test = load_data(config)
    shares = []
    for rank in range(2):
        lo, hi = shard(0, len(test), rank, 2)
        shares.append(evaluate(model, Split(test.images[lo:hi], test.labels[lo:hi]), True,
                               classes=config.classes).confusion)
    assert [sum(map(sum, share)) for share in shares] == [75, 75]  # neither rank's alone
    assert rows[-1]["confusion"] == [[a + b for a, b in zip(ra, rb)] for ra, rb in zip(*shares)]


def test_torchrun_started_by_hand_gives_the_same_session(tmp_path, one_process):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "cnn_tui", "train", *DATA, "--epochs", "2", "--session", "byhand", "--sessions-dir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-8000:]
    assert_same_numbers(one_process, metrics(tmp_path, "byhand"))
    assert SessionStore(tmp_path).open("byhand").record.distributed["world_size"] == 2


def test_a_run_resumes_with_another_number_of_processes(tmp_path, one_process):
    common = [*DATA, "--session", "r", "--sessions-dir", str(tmp_path)]
    first = cli("train", *common, "--epochs", "1", "--nproc-per-node", "2")
    assert first.returncode == 0, first.stderr
    second = cli("train", *common, "--epochs", "2", "--resume")  # one process takes over
    assert second.returncode == 0, second.stderr
    assert_same_numbers(one_process, metrics(tmp_path, "r"))
    assert SessionStore(tmp_path).open("r").record.distributed is None  # the last run had one process

    common = [*DATA, "--session", "back", "--sessions-dir", str(tmp_path)]
    assert cli("train", *common, "--epochs", "1").returncode == 0
    again = cli("train", *common, "--epochs", "2", "--resume", "--nproc-per-node", "2")
    assert again.returncode == 0, again.stderr
    assert_same_numbers(one_process, metrics(tmp_path, "back"))


# An epoch of ~10 s on 2 cores, long enough to act on mid-epoch: small batches rather than
# many images (200,000 synthetic images took 15 s to make before the first batch).
LONG = ["--dataset", "synthetic", "--train-size", "30000", "--batch-size", "10", "--test-size", "100",
        "--device", "cpu", "--epochs", "3", "--nproc-per-node", "2"]


def start(tmp_path, name):
    return subprocess.Popen([sys.executable, "-m", "cnn_tui", "train", *LONG, "--session", name,
                             "--sessions-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def ranks_of(launcher_pid):
    """The training processes torchrun started for a launcher (its grandchildren)."""
    out = subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout.splitlines()
    children = {int(line.split()[0]): int(line.split()[1]) for line in out[1:]}
    commands = {int(line.split()[0]): line for line in out[1:]}
    torchrun = [pid for pid, parent in children.items() if parent == launcher_pid]
    return [pid for pid, parent in children.items() if parent in torchrun and "cnn_tui train" in commands[pid]]


def wait_for_batches(tmp_path, name, proc, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            progress = SessionStore(tmp_path).open(name).read_progress()
        except Exception:  # noqa: BLE001 - not created yet
            progress = None
        if progress and progress.get("batch", 0) >= 5:
            return progress
        time.sleep(0.2)
    raise AssertionError("the run did not start")


def test_a_rank_killed_mid_epoch_ends_the_run_with_a_reason(tmp_path):
    proc = start(tmp_path, "killed")
    wait_for_batches(tmp_path, "killed", proc)
    ranks = ranks_of(proc.pid)
    assert len(ranks) == 2
    killed_at = time.monotonic()
    os.kill(max(ranks), signal.SIGKILL)  # rank 1 (started second)
    out, err = proc.communicate(timeout=150)
    assert time.monotonic() - killed_at < 60  # torchrun notices at once; the collective timeout is the backstop
    assert proc.returncode == 1 and "Traceback" not in err
    session = SessionStore(tmp_path).open("killed")
    assert session.status == "failed" and not session.live
    assert "distributed run" in session.reason and "resume continues from epoch 0" in session.reason
    assert err.strip().splitlines()[-1] == f"cnn-tui: error: {session.reason}"


def progress_when(store, name, condition, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = store.open(name).read_progress() or {}
        if condition(progress):
            return progress
        time.sleep(0.1)
    raise AssertionError(f"never: last progress {progress}")


def test_pause_and_stop_from_a_watcher_reach_every_rank(tmp_path):
    proc = start(tmp_path, "stopped")
    wait_for_batches(tmp_path, "stopped", proc)
    store = SessionStore(tmp_path)
    ranks = ranks_of(proc.pid)
    # Each rank's line for the system panel: where it runs, its speed, its memory.
    lines = progress_when(store, "stopped", lambda p: p.get("system", {}).get("ranks"))["system"]["ranks"]
    assert [line["rank"] for line in lines] == [0, 1]
    assert all(line["device"] == "cpu" and line["memory_bytes"] > 0 for line in lines)
    assert all(line["forward_images_per_second"] is None or line["forward_images_per_second"] > 0 for line in lines)
    store.send_control("stopped", "pause")
    paused = progress_when(store, "stopped", lambda p: p.get("state") == "paused")
    time.sleep(3)  # longer than a pause beat: the ranks keep each other company, nobody times out
    assert store.open("stopped").read_progress()["batch"] == paused["batch"] and proc.poll() is None
    store.send_control("stopped", "resume")
    progress_when(store, "stopped", lambda p: p.get("state") == "training" and p["batch"] > paused["batch"])
    store.send_control("stopped", "stop")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "continue with: cnn-tui train --session stopped --resume" in err
    assert all(not os.path.exists(f"/proc/{pid}") for pid in ranks)
    session = SessionStore(tmp_path).open("stopped")
    assert session.status == "stopped" and "stopped during epoch 0" in session.reason


@pytest.mark.parametrize("args, message", [
    (["--nproc-per-node", "2", "--exact"], "--exact reproduces one process bit for bit"),
    (["--nproc-per-node", "0"], "--nproc-per-node must be at least 1, got 0; try --nproc-per-node 1"),
    (["--nproc-per-node", "many"], "--nproc-per-node must be a whole number or auto"),
    (["--nproc-per-node", "2", "--nnodes", "2"], "--nnodes above 1 needs --rdzv-endpoint HOST:PORT"),
    (["--nproc-per-node", "2", "--rdzv-endpoint", "nowhere"], "--rdzv-endpoint must be HOST:PORT"),
    (["--nproc-per-node", "1", "--nnodes", "2", "--node-rank", "1", "--rdzv-endpoint", "no-such-host.invalid:29500"],
     "--rdzv-endpoint: cannot resolve 'no-such-host.invalid'"),
])
def test_launch_mistakes_are_one_line_exit_2(tmp_path, args, message):
    result = cli("train", *DATA, "--sessions-dir", str(tmp_path), *args)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("cnn-tui: error: ")
    assert message in lines[0]
    assert not (tmp_path / "run").exists() and not any(tmp_path.iterdir())  # nothing written


def test_a_rendezvous_port_in_use_is_named(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("train", *DATA, "--sessions-dir", str(tmp_path), "--nproc-per-node", "1", "--nnodes", "2",
                     "--rdzv-endpoint", f"127.0.0.1:{port}")
    assert result.returncode == 2
    assert f"--rdzv-endpoint: port {port} on 127.0.0.1 is in use; pick another port" in result.stderr


def test_a_distributed_run_in_the_background_is_watched_like_any_other(tmp_path):
    result = cli("train", *DATA, "--epochs", "2", "--session", "bg", "--sessions-dir", str(tmp_path),
                 "--nproc-per-node", "2", "--detach")
    assert result.returncode == 0, result.stderr
    store = SessionStore(tmp_path)
    deadline = time.monotonic() + 120
    while store.open("bg").live and time.monotonic() < deadline:
        time.sleep(0.3)
    session = store.open("bg")
    assert session.status == "finished" and session.epochs_done == 2, session.log_file.read_text()
    assert session.record.detached and session.record.distributed["world_size"] == 2
    log = session.log_file.read_text()
    assert log.count("epoch ") == 2 and "Traceback" not in log
    assert json.loads(session.session_file.read_text())["status"] == "finished"
