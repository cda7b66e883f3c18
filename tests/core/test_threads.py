"""The rule that picks torch's thread count on a shared machine."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from cnn_tui.core import threads
from cnn_tui.core.threads import busy_cores, choose_threads


@pytest.mark.parametrize("cores, busy, expected", [
    (2, 0.0, 2), (2, 0.3, 2), (2, 0.7, 1), (2, 1.0, 1), (2, 2.5, 1),
    (8, 0.0, 8), (8, 3.2, 5), (8, 9.0, 1), (1, 0.0, 1),
])
def test_busy_cores_are_left_alone(cores, busy, expected):
    assert choose_threads(cores, busy) == expected


def test_a_busy_neighbour_is_seen():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        assert busy_cores(0.5) >= 0.6
    finally:
        spinner.kill()
        spinner.wait()


def test_without_proc_stat_the_load_average_counts(monkeypatch):
    monkeypatch.setattr(threads, "_cpu_times", lambda: None)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (1.4, 0.0, 0.0))
    assert busy_cores(0) == 1.4


@pytest.mark.parametrize("wanted", [1, 2])
def test_train_uses_the_threads_asked_for(tmp_path, wanted):
    import torch

    from cnn_tui.core.config import TrainConfig
    from cnn_tui.core.presets import preset
    from cnn_tui.core.sessions import SessionStore
    from cnn_tui.core.trainer import train

    config = TrainConfig(dataset="synthetic", epochs=1, train_size=100, test_size=50, batch_size=50, threads=wanted)
    ended = train(preset("seed"), config, SessionStore(tmp_path))
    assert ended.status == "finished" and torch.get_num_threads() == wanted
