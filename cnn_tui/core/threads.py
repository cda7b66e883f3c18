"""How many CPU threads torch should use when nobody said. Pure Python, no torch.

On a machine whose cores are all free, one thread per core is fastest. When another process
keeps a core busy, torch's OpenMP threads spin-wait on each other at every operation and one
of them always waits for the core the other process holds: measured on a 2-core box with one
busy neighbour, 2 threads ran an epoch 6-20x slower than 1 (README, "Threads"). So the rule
counts the cores that are busy right now and leaves them alone:

    threads = max(1, usable cores - busy cores)

where usable cores are this process's CPU affinity, capped by its cgroup's CPU limit (a
container's --cpus: torch would start a thread per visible core and the limit would stall
them all), and busy cores are measured from /proc/stat over a short interval (a core counts
when more than half of it is used), else taken from the 1-minute load average.

A neighbour can also arrive, or leave, after a run has started. `FreeCores` applies the same
rule again four times a second while a run trains: the cores' busy time from /proc/stat less
this process's own CPU time is what the others use.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

SAMPLE_SECONDS = 0.2


def _usable_set() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0)) or None
    except (AttributeError, OSError):
        return None


def usable_cores() -> int:
    """The cores this process may run on (its affinity, else the machine's count), no more
    than its CPU quota allows (a container's `--cpus`, a Kubernetes CPU limit)."""
    usable = _usable_set()
    cores = len(usable) if usable else max(1, os.cpu_count() or 1)
    quota = cpu_quota()
    if quota is not None:  # 1.5 CPUs: 2 threads were as fast as 1 or faster; 1.0: 1 was 1.6x faster
        cores = min(cores, max(1, int(quota + 0.5)))
    return cores


def _cgroup_dirs(cgroup_text: str, mountinfo_text: str, fs_root: Path) -> list[tuple[Path, Path, str]]:
    """(this process's cgroup folder, its hierarchy's mount point, "v1" or "v2") for each
    mounted hierarchy that has the cpu controller, from /proc/self/cgroup and mountinfo."""
    mounts = []  # (root inside the hierarchy, mount point, version)
    for line in mountinfo_text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        after = fields[fields.index("-") + 1:]
        if len(after) < 3 or len(fields) < 5:
            continue
        if after[0] == "cgroup2":
            mounts.append((fields[3], fields[4], "v2"))
        elif after[0] == "cgroup" and "cpu" in after[2].split(","):
            mounts.append((fields[3], fields[4], "v1"))
    dirs = []
    for line in cgroup_text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        version = "v2" if parts[0] == "0" and not parts[1] else "v1"
        if version == "v1" and "cpu" not in parts[1].split(","):
            continue
        for root, point, mounted in mounts:
            if mounted != version:
                continue
            inside = parts[2] if root == "/" else parts[2][len(root):] if parts[2].startswith(root) else None
            if inside is None:
                continue
            top = fs_root / point.lstrip("/")
            dirs.append((top / inside.lstrip("/"), top, version))
    return dirs


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _quota_in(folder: Path, version: str) -> float | None:
    """One cgroup folder's CPU limit in CPUs, or None."""
    try:
        if version == "v2":
            text = _read(folder / "cpu.max")
            if text is None or text.split()[0] == "max":
                return None
            quota, period = (float(v) for v in text.split()[:2])
        else:
            quota_text, period_text = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
            if quota_text is None or period_text is None:
                return None
            quota, period = float(quota_text), float(period_text)
    except (ValueError, IndexError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def cgroup_cpu_dirs() -> list[tuple[Path, Path, str]]:
    """This process's cgroup folders that hold CPU limits: (folder, mount point, version)."""
    cgroup_text, mountinfo_text = _read(Path("/proc/self/cgroup")), _read(Path("/proc/self/mountinfo"))
    if cgroup_text is None or mountinfo_text is None:
        return []
    return _cgroup_dirs(cgroup_text, mountinfo_text, Path("/"))


def cpu_quota(cgroup_text: str | None = None, mountinfo_text: str | None = None, fs_root: Path = Path("/")) -> float | None:
    """How many CPUs this process's cgroup may use (quota / period), the smallest limit from
    its cgroup up to its hierarchy's root; None when there is none or it cannot be read."""
    if cgroup_text is None or mountinfo_text is None:
        dirs = cgroup_cpu_dirs()
    else:
        dirs = _cgroup_dirs(cgroup_text, mountinfo_text, fs_root)
    limits = []
    for folder, top, version in dirs:
        while True:
            limit = _quota_in(folder, version)
            if limit is not None:
                limits.append(limit)
            if folder == top or top not in folder.parents:
                break
            folder = folder.parent
    return min(limits) if limits else None


def _cpu_times() -> tuple[float, float, int] | None:
    """(busy, total) jiffies since boot of the cores this process may use, and how many
    cores that is, from /proc/stat (its per-core lines; the machine's line when the cores
    are not known)."""
    usable = _usable_set()
    busy = total = 0.0
    counted = 0
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            for line in stat:
                name, _, rest = line.partition(" ")
                if not name.startswith("cpu"):
                    break
                core = name[3:]
                if not (name == "cpu" if usable is None else core.isdigit() and int(core) in usable):
                    continue
                fields = [float(v) for v in rest.split()]
                if len(fields) < 5:
                    return None
                idle = fields[3] + fields[4]  # idle + iowait
                line_total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
                busy, total, counted = busy + line_total - idle, total + line_total, counted + 1
    except (OSError, ValueError):
        return None
    if not counted:
        return None
    return busy, total, counted if usable is not None else max(1, os.cpu_count() or 1)


def busy_cores(seconds: float = SAMPLE_SECONDS) -> float:
    """How many of this process's usable cores other work keeps busy now (the calling
    process is assumed idle)."""
    first = _cpu_times()
    if first is not None:
        time.sleep(seconds)
        second = _cpu_times()
        if second is not None and second[1] > first[1]:
            return (second[0] - first[0]) / (second[1] - first[1]) * second[2]
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


BUSY = 0.5  # a core counts busy above half use: 0.4 of a core is noise, 0.6 a neighbour
# ... except when measured while this process held every core: a neighbour then gets only part
# of what it asks for (one that wants 75% of a core got 40-50% beside 2 spinning threads here,
# where 1 thread would have trained 20% faster), so 40% counts.
BUSY_SQUEEZED = 0.4


def choose_threads(cores: int, busy: float, threshold: float = BUSY) -> int:
    """The rule: the usable cores less those busy (a core counts above `threshold` use)."""
    taken = int(busy - threshold + 1)
    return max(1, min(cores, cores - taken))


def default_threads() -> int:
    """What the trainer uses when `--threads` is not given."""
    return choose_threads(usable_cores(), busy_cores())


class FreeCores:
    """The rule applied again while a run trains, so that a neighbour who arrives after the
    start does not leave torch's threads waiting on a core it holds (measured on 2 cores: epochs
    2.5x slower), and one who leaves gives its core back.

    `poll()` is called once per batch and costs one clock read; once every INTERVAL it reads
    /proc/stat and this process's CPU time. What the other processes used in that interval
    (the machine's busy time less ours) decides the thread count by `choose_threads`, with a
    lower bar while this process holds every core (BUSY_SQUEEZED). A
    change is made when two intervals in a row ask for the same new count, so that a blip
    next door that shows in one look only switches nothing. `apply(n)` sets the count
    (torch.set_num_threads in the trainer).
    """

    INTERVAL = 0.25  # seconds between looks at the machine
    AGREE = 2  # intervals in a row that must ask for a new count before it is applied

    def __init__(self, threads: int, cores: int, apply: Callable[[int], None], *,
                 clock: Callable[[], float] = time.monotonic,
                 own_cpu: Callable[[], float] = time.process_time,
                 machine: Callable[[], tuple[float, float, int] | None] | None = None) -> None:
        self.threads, self.cores, self.apply = threads, cores, apply
        self.clock, self.own_cpu = clock, own_cpu
        self.machine = machine or _cpu_times
        self.changes = 0
        self._wanted, self._agreed = threads, 0
        self._last = self._sample()

    def _sample(self) -> tuple[float, float, tuple[float, float, int] | None]:
        return self.clock(), self.own_cpu(), self.machine()

    def poll(self) -> int:
        """The thread count to train with now (changed here when the machine asks for it)."""
        if self.clock() - self._last[0] < self.INTERVAL:
            return self.threads
        now = self._sample()
        before, self._last = self._last, now
        if before[2] is None or now[2] is None or now[2][1] <= before[2][1]:
            return self.threads
        wall = now[0] - before[0]
        # The busy share of the usable cores' jiffies, times the cores and `wall`: the busy
        # core-seconds on them, ours included.
        machine_busy = (now[2][0] - before[2][0]) / (now[2][1] - before[2][1]) * now[2][2] * wall
        others = max(0.0, machine_busy - (now[1] - before[1])) / wall
        wanted = choose_threads(self.cores, others, BUSY_SQUEEZED if self.threads >= self.cores else BUSY)
        self._agreed = self._agreed + 1 if wanted == self._wanted else 1
        self._wanted = wanted
        if wanted != self.threads and self._agreed >= self.AGREE:
            self.apply(wanted)
            self.threads = wanted
            self.changes += 1
        return self.threads
