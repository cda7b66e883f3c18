"""Benchmarks behind the figures in the README. Run each with `python -m cnn_tui.benchmarks.NAME`."""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
import time
from datetime import date


def machine_line() -> str:
    """Where a figure was measured: CPU model, cores, Python, date."""
    import os

    from ..core.system import cpu_name

    return f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}, {date.today().isoformat()}"


def time_command(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def interleaved_medians(commands: dict[str, list[str]], repeats: int) -> dict[str, float]:
    """Run the commands in turn `repeats` times (so machine noise hits all alike); medians."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, argv in commands.items():
            times[name].append(time_command(argv))
    return {name: statistics.median(values) for name, values in times.items()}


PYTHON = sys.executable
