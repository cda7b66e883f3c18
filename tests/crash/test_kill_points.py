"""A process killed at each exact point of writing a session loses nothing: resumed, the
session equals an uninterrupted run epoch for epoch, with no duplicate or missing line and
no temporary file left behind. (tests/crash/runner.py places the kills.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cnn_tui.core.sessions import SessionStore

from ..test_cli_train import SMALL, cli

RUNNER = Path(__file__).with_name("runner.py")
EPOCHS = 3
KILL_EPOCH = 1  # the second epoch: there is an earlier checkpoint to fall back on
VARYING = ("seconds", "images_per_second", "peak_memory_bytes", "threads")
FIXED = ["--threads", "1"]  # the default follows the load; a fixed count keeps the rounding the same


def numbers(store: SessionStore, name: str) -> list[dict]:
    rows, warnings = store.open(name).read_metrics()
    assert warnings == []
    return [{k: v for k, v in row.items() if k not in VARYING} for row in rows]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("straight")
    result = cli("train", *SMALL, *FIXED, "--epochs", str(EPOCHS), "--session", "straight", "--sessions-dir", str(root))
    assert result.returncode == 0, result.stderr
    return numbers(SessionStore(root), "straight")


@pytest.mark.parametrize("point", [
    "metrics-mid", "metrics-after", "checkpoint-mid", "checkpoint-before-rename", "checkpoint-after-rename",
])
def test_killed_at_each_write_point_resumes_to_the_same_numbers(tmp_path, uninterrupted, point):
    args = ["train", *SMALL, *FIXED, "--epochs", str(EPOCHS), "--session", "k", "--sessions-dir", str(tmp_path)]
    killed = subprocess.run([sys.executable, str(RUNNER), point, str(KILL_EPOCH), "--", *args],
                            capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr  # it died where it was told to
    store = SessionStore(tmp_path)
    session = store.open("k")
    assert session.status == "interrupted"
    assert session.epochs_done in (KILL_EPOCH, KILL_EPOCH + 1)
    listed = store.list()[0][0]
    assert listed.epochs_done <= session.load_checkpoint().epoch  # the listing never promises more

    resumed = cli("train", "--session", "k", "--resume", "--epochs", str(EPOCHS), "--sessions-dir", str(tmp_path))
    assert resumed.returncode == 0, resumed.stderr
    assert numbers(store, "k") == uninterrupted
    assert store.open("k").status == "finished"
    assert not [p.name for p in (tmp_path / "k").iterdir() if p.name.endswith(".tmp")]
