"""`cnn-tui train` and `cnn-tui sessions` as a user runs them, signals included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from cnn_tui.core.sessions import SessionStore

from .conftest import needs_real_data, real_data_dir

SMALL = ["--dataset", "synthetic", "--train-size", "600", "--test-size", "100", "--batch-size", "50"]


def cli(*args, cwd=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "cnn_tui", *args], capture_output=True, text=True, cwd=cwd, **kwargs)


def test_train_prints_the_reference_line_and_writes_a_session(tmp_path):
    result = cli("train", *SMALL, "--epochs", "2", "--session", "r", "--sessions-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 0 total_correct: ")
    parts = lines[1].split()
    assert parts[:3] == ["epoch", "1", "total_correct:"] and parts[4] == "loss:"
    assert parts[6] == "test_accuracy:" and parts[8] == "seconds:"
    rows, _ = SessionStore(tmp_path).open("r").read_metrics()
    assert f"loss: {rows[1]['total_loss']:.4f}" in lines[1]
    assert parts[-2:] == ["threads:", str(rows[1]["threads"])]  # the count can follow the machine's load
    listing = cli("sessions", "--sessions-dir", str(tmp_path), "--json")
    assert json.loads(listing.stdout)[0]["name"] == "r"
    table = cli("sessions", "--sessions-dir", str(tmp_path))
    assert "r " in table.stdout and "finished" in table.stdout and "2/2" in table.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lr", "-1"], "--lr must be a positive number"),
        (["--epochs", "x"], "argument --epochs: invalid int value: 'x'"),
        (["--dataset", "imagenet"], "invalid choice: 'imagenet'"),
        (["--session", "../x"], "invalid session name"),
        (["--resume"], "--resume needs --session NAME"),
        (["--amp", "fp8"], "argument --amp: invalid choice: 'fp8'"),
        (["--exact", "--amp", "bf16"], "--exact reproduces the reference loop in float32, and this run asks for --amp bf16"),
        (["--dataset", "mnist", "--input", "3,32,32"], "--input 3,32,32 does not match mnist's 1×28×28 images"),
        (["--device", "cuda"], None),  # refused only where no GPU is visible
    ],
)
def test_train_user_errors_are_one_line_exit_2(tmp_path, args, message):
    if message is None:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is visible here")
        message = "--device cuda: no CUDA GPU is visible"
    result = cli("train", *SMALL, "--sessions-dir", str(tmp_path), *args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_missing_dataset_offline_is_one_line_exit_2(tmp_path):
    result = cli("train", "--data-dir", str(tmp_path / "nowhere"), "--sessions-dir", str(tmp_path), "--epochs", "1",
                 env={**os.environ, "CNN_TUI_DATA": ""})
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("cnn-tui: error:")]
    assert len(errors) == 1 and "--dataset synthetic" in errors[0] and "nowhere" in errors[0]
    assert "Traceback" not in result.stderr


def test_class_mismatch_is_refused(tmp_path):
    arch = tmp_path / "a.json"
    arch.write_text(json.dumps({"layers": [{"type": "flatten"}, {"type": "linear", "out_features": 7}]}))
    result = cli("train", str(arch), *SMALL, "--sessions-dir", str(tmp_path / "s"))
    assert result.returncode == 2
    assert "layer 1 (linear): outputs 7 features but synthetic has 10 classes; set out_features to 10" in result.stderr
    assert not (tmp_path / "s").exists()


def _wait_for_epochs(path, count, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("training did not progress")


def test_sigkill_mid_run_keeps_every_finished_epoch_and_resumes(tmp_path):
    args = ["train", *SMALL, "--train-size", "3000", "--epochs", "40", "--session", "k", "--sessions-dir", str(tmp_path)]
    proc = subprocess.Popen([sys.executable, "-m", "cnn_tui", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    metrics = tmp_path / "k" / "metrics.jsonl"
    _wait_for_epochs(metrics, 2, proc)
    time.sleep(0.3)  # somewhere inside the next epoch
    proc.kill()
    proc.wait()
    session = SessionStore(tmp_path).open("k")
    rows, _ = session.read_metrics()
    assert len(rows) >= 2 and [r["epoch"] for r in rows] == list(range(len(rows)))
    assert session.status == "interrupted"
    done = session.load_checkpoint().epoch
    assert done in (len(rows), len(rows) - 1)  # killed between the metrics line and the checkpoint
    result = cli("train", "--session", "k", "--sessions-dir", str(tmp_path), "--resume", "--epochs", str(done + 1),
                 "--dataset", "synthetic")
    assert result.returncode == 0, result.stderr
    rows, _ = SessionStore(tmp_path).open("k").read_metrics()
    assert [r["epoch"] for r in rows] == list(range(done + 1))
    assert SessionStore(tmp_path).open("k").status == "finished"


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path):
    args = ["train", *SMALL, "--train-size", "3000", "--epochs", "40", "--session", "c", "--sessions-dir", str(tmp_path)]
    proc = subprocess.Popen([sys.executable, "-m", "cnn_tui", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_epochs(tmp_path / "c" / "metrics.jsonl", 1, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err and f"cnn-tui train --session c --resume --epochs 40 --sessions-dir {tmp_path}" in err
    session = SessionStore(tmp_path).open("c")
    assert session.status == "stopped"
    assert session.load_checkpoint().epoch == len(session.read_metrics()[0])


@needs_real_data
def test_reference_configuration_on_real_data_first_epoch(tmp_path):
    """One epoch of the reference run on the real FashionMNIST lands within 2% of the
    published epoch-0 line (47,387 correct, loss 330.62)."""
    result = cli("train", "--no-shuffle", "--epochs", "1", "--data-dir", str(real_data_dir()),
                 "--session", "ref", "--sessions-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    row = SessionStore(tmp_path).open("ref").read_metrics()[0][0]
    assert abs(row["total_correct"] - 47387) / 47387 < 0.02
    assert abs(row["total_loss"] - 330.62) / 330.62 < 0.08
    assert row["test_accuracy"] > 0.78


@pytest.mark.parametrize(
    "args, message",
    [
        (["--session", "nope"], "no session 'nope'"),
        (["--lr", "0"], "--lr must be a positive number"),
        (["missing.json"], "missing.json: no such file"),
        (["--preset", "alexnet"], "invalid choice: 'alexnet'"),
    ],
)
def test_app_launch_errors_are_one_line_before_the_screen_is_taken(tmp_path, args, message):
    result = cli(*args, "--sessions-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and message in result.stderr


def test_synthetic_data_takes_any_shape(tmp_path):
    result = cli("train", "--preset", "vgg-small", "--dataset", "synthetic", "--input", "3,16,16", "--epochs", "1",
                 "--train-size", "200", "--test-size", "50", "--session", "rgb", "--sessions-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    session = SessionStore(tmp_path).open("rgb")
    assert session.record.architecture["input"] == [3, 16, 16]
    assert session.record.config["input_shape"] == [3, 16, 16]
    assert len(session.read_metrics()[0]) == 1


@pytest.mark.parametrize("name, shape", [("resnet-small", "1,28,28"), ("vgg-bn", "3,32,32")])
def test_block_and_batchnorm_presets_train_end_to_end(tmp_path, name, shape):
    result = cli("train", "--preset", name, "--dataset", "synthetic", "--input", shape, "--epochs", "1",
                 "--train-size", "200", "--test-size", "50", "--batch-size", "50", "--session", "p",
                 "--sessions-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    session = SessionStore(tmp_path).open("p")
    assert session.record.status == "finished" and len(session.read_metrics()[0]) == 1


def test_a_batch_larger_than_the_data_is_said(tmp_path):
    result = cli("train", *SMALL, "--batch-size", "5000", "--epochs", "1", "--sessions-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "--batch-size 5000 is more than the 600 training images" in result.stderr


def test_fp16_on_a_cpu_is_said_to_be_slow(tmp_path):
    result = cli("train", *SMALL, "--amp", "fp16", "--device", "cpu", "--epochs", "1", "--train-size", "100",
                 "--sessions-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "note: --amp fp16 has no fast kernels on a CPU" in result.stderr and "try --amp bf16" in result.stderr
