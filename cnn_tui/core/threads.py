"""How many CPU threads torch should use when nobody said. Pure Python, no torch.

On a machine whose cores are all free, one thread per core is fastest. When another process
keeps a core busy, torch's OpenMP threads spin-wait on each other at every operation and one
of them always waits for the core the other process holds: measured on a 2-core box with one
busy neighbour, 2 threads ran an epoch 6-20x slower than 1 (README, "Threads"). So the rule
counts the cores that are busy right now and leaves them alone:

    threads = max(1, usable cores - busy cores)

where usable cores are this process's CPU affinity, and busy cores are measured from
/proc/stat over a short interval (a core counts when more than half of it is used), else
taken from the 1-minute load average.
"""

from __future__ import annotations

import os
import time

SAMPLE_SECONDS = 0.2


def usable_cores() -> int:
    """The cores this process may run on (its affinity, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [float(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 5:
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    return total - idle, total


def busy_cores(seconds: float = SAMPLE_SECONDS) -> float:
    """How many cores other work keeps busy now (the calling process is assumed idle)."""
    first = _cpu_times()
    if first is not None:
        time.sleep(seconds)
        second = _cpu_times()
        if second is not None and second[1] > first[1]:
            fraction = (second[0] - first[0]) / (second[1] - first[1])
            return fraction * (os.cpu_count() or 1)
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def choose_threads(cores: int, busy: float) -> int:
    """The rule: the usable cores less those busy (a core counts busy above half use)."""
    taken = int(busy + 0.5)  # 0.4 of a core is noise; 0.6 is a neighbour
    return max(1, min(cores, cores - taken))


def default_threads() -> int:
    """What the trainer uses when `--threads` is not given."""
    return choose_threads(usable_cores(), busy_cores())
