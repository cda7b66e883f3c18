"""The prepared GPU benchmark runs end to end (on the CPU here, with a few images), so a GPU
machine finds it working."""

from __future__ import annotations

import pytest
import torch

from cnn_tui.benchmarks import gpu_speed


def test_the_gpu_benchmark_prints_every_network_in_every_mode(capsys, monkeypatch):
    monkeypatch.delenv("CNN_TUI_DATA", raising=False)  # synthetic images: no dataset needed
    assert gpu_speed.main(["--device", "cpu", "--epochs", "2", "--train-size", "100", "--test-size", "50"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0].startswith("| network | mode | s/epoch")
    table = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]
    assert [(network, mode) for network, mode, *_ in table] == [
        (network, mode["label"]) for network in ("reference (seed)", "vgg-small") for mode in gpu_speed.MODES.values()]
    for _, _, seconds, images, memory, accuracy in table:
        assert float(seconds) > 0 and int(images.replace(",", "")) > 0
        assert memory.endswith(" MiB") and 0 <= float(accuracy) <= 1


def test_without_a_gpu_it_says_so_and_measures_nothing(capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here: the benchmark would run")
    assert gpu_speed.main([]) == 2
    assert "no CUDA GPU visible" in capsys.readouterr().out
