"""Seconds per epoch with 1 and 2 torch threads and the default, while a competing busy
process runs the whole time, arrives after the first epoch, or leaves after it.

    python -m cnn_tui.benchmarks.threads [--rounds 3] [--train-size 6000]
    python -m cnn_tui.benchmarks.threads --two-runs [--rounds 3] [--train-size 30000]
    python -m cnn_tui.benchmarks.threads --quota 1.0 [--rounds 3]    (as root, with a writable cgroup)
    CNN_TUI_DATA=../shared/data python -m cnn_tui.benchmarks.threads --dataset fashion-mnist

Each run is a fresh `cnn-tui train --threads N` process (or no --threads: the default, which
picks from the free cores at the start and follows them while it trains). The competing
process is a pure-Python busy loop: one core's worth of someone else's work, or a share of
one (busy for that share of every 10 ms, asleep the rest). A neighbour that arrives or leaves
does so when the run's first epoch is written, and the figure is the median of the later
epochs. All cases are interleaved round by round, so a change in the
machine's other load hits them alike; the table shows medians over the rounds.

With --two-runs, the neighbour is another training run: two `cnn-tui train` processes
started together, both with the default or both with --threads 2, and the figure is the
wall time until both have finished.

With --quota CPUS, each run trains alone inside a new child cgroup limited to that many CPUs
(what a container's --cpus or a Kubernetes CPU limit sets), with 1 or 2 threads or the
default; it needs a cgroup folder this user may create children in.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from . import PYTHON, machine_line

NEIGHBOURS = {  # how the competing process behaves: (there at the start, there after epoch 1, its share of a core)
    "none": (False, False, 1.0),
    "a whole core, all the time": (True, True, 1.0),
    "a quarter of a core, all the time": (True, True, 0.25),
    "three quarters of a core, all the time": (True, True, 0.75),
    "a whole core, arriving after epoch 1": (False, True, 1.0),
    "a whole core, leaving after epoch 1": (True, False, 1.0),
}

# Busy for `share` of every 10 ms, asleep for the rest.
_DUTY_LOOP = """import sys, time
share = float(sys.argv[1])
while True:
    start = time.perf_counter()
    while time.perf_counter() - start < share * 0.01:
        pass
    time.sleep((1 - share) * 0.01)
"""


def _spinner(share: float = 1.0) -> subprocess.Popen:
    if share >= 1.0:
        return subprocess.Popen([sys.executable, "-c", "while True: pass"])
    return subprocess.Popen([sys.executable, "-c", _DUTY_LOOP, str(share)])


def _stop(spinner: subprocess.Popen | None) -> None:
    if spinner is not None:
        spinner.kill()
        spinner.wait()


def _train_argv(sessions: str, dataset: str, train_size: int, epochs: int, threads: int | None) -> list[str]:
    argv = [PYTHON, "-m", "cnn_tui", "train", "--dataset", dataset, "--epochs", str(epochs),
            "--train-size", str(train_size), "--test-size", "100", "--sessions-dir", sessions, "--session", "bench"]
    return argv + ["--threads", str(threads)] if threads is not None else argv


def _epochs(sessions: str) -> tuple[float, list[int]]:
    """The benchmark session's epochs: (median seconds of the epochs after the first, or of
    the one epoch; the threads each epoch recorded)."""
    rows = [json.loads(line) for line in Path(sessions, "bench", "metrics.jsonl").read_text().splitlines()]
    seconds = [row["seconds"] for row in rows]
    return statistics.median(seconds[1:] or seconds), [row.get("threads", 0) for row in rows]


def _by_epoch(threads: list[int]) -> str:
    """Each epoch's thread count, as "2/1/1"."""
    return "/".join(str(t) for t in threads)


def run_seconds(threads: int | None, neighbour: str, dataset: str, train_size: int, epochs: int) -> tuple[float, list[int]]:
    """One run in a fresh process: (median seconds of the epochs after the first, or of the
    one epoch; the threads each epoch recorded)."""
    at_start, later, share = NEIGHBOURS[neighbour]
    spinner = _spinner(share) if at_start else None
    with tempfile.TemporaryDirectory() as sessions:
        try:
            if spinner is not None:
                time.sleep(1.0)  # let it take its core before the default looks
            trainer = subprocess.Popen(_train_argv(sessions, dataset, train_size, epochs, threads),
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            metrics = Path(sessions, "bench", "metrics.jsonl")
            if at_start != later:
                while trainer.poll() is None and not (metrics.exists() and metrics.stat().st_size):
                    time.sleep(0.01)
                if later:
                    spinner = _spinner(share)
                else:
                    _stop(spinner)
                    spinner = None
            if trainer.wait() != 0:
                raise SystemExit(f"cnn-tui train failed: {trainer.stderr.read() if trainer.stderr else ''}")
        finally:
            _stop(spinner)
        return _epochs(sessions)


@contextlib.contextmanager
def cpu_limited(cpus: float) -> Iterator[Path]:
    """A child cgroup of this process's own, limited to `cpus` CPUs; yields its folder."""
    from ..core.threads import cgroup_cpu_dirs

    dirs = cgroup_cpu_dirs()
    if not dirs:
        raise SystemExit("no cgroup with a CPU controller found for this process")
    folder, _, version = dirs[0]
    child = folder / f"cnn-tui-bench-{os.getpid()}"
    period = 100_000
    try:
        child.mkdir()
    except OSError as exc:
        raise SystemExit(f"cannot make a cgroup in {folder}: {exc} (run as root, with the cgroup file system "
                         "writable)") from None
    try:
        try:
            if version == "v2":
                (child / "cpu.max").write_text(f"{round(cpus * period)} {period}")
            else:
                (child / "cpu.cfs_period_us").write_text(str(period))
                (child / "cpu.cfs_quota_us").write_text(str(round(cpus * period)))
        except OSError as exc:
            raise SystemExit(f"cannot limit the CPUs of {child}: {exc} (on cgroup v2 the cpu controller must "
                             "be enabled for child groups)") from None
        yield child
    finally:
        child.rmdir()


def quota_seconds(threads: int | None, group: Path, dataset: str, train_size: int, epochs: int) -> tuple[float, list[int]]:
    """One run inside the cgroup `group`: (median seconds of the epochs after the first, the
    threads each epoch recorded)."""
    with tempfile.TemporaryDirectory() as sessions:
        def join() -> None:  # in the child, before it runs Python
            (group / "cgroup.procs").write_text(str(os.getpid()))

        subprocess.run(_train_argv(sessions, dataset, train_size, epochs, threads), preexec_fn=join, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return _epochs(sessions)


def quota_runs(args: argparse.Namespace) -> None:
    from ..core.threads import cpu_quota

    times: dict[int | None, list[float]] = {1: [], 2: [], None: []}
    used: list[str] = []
    with cpu_limited(args.quota) as group:
        for _ in range(args.rounds):
            for threads in times:
                seconds, per_epoch = quota_seconds(threads, group, args.dataset, args.train_size, args.epochs)
                times[threads].append(seconds)
                if threads is None:
                    used.append(_by_epoch(per_epoch))
    print(f"{machine_line()}; a cgroup limited to {args.quota:g} CPUs (outside it: {cpu_quota() or 'no limit'}), "
          f"{args.dataset}, {args.train_size} images, {args.epochs} epochs a run, medians of {args.rounds} rounds")
    print("| 1 thread (s/epoch) | 2 threads (s/epoch) | default (s/epoch) | default's threads, epoch by epoch |")
    print("|---|---|---|---|")
    one, two, auto = (statistics.median(times[t]) for t in (1, 2, None))
    print(f"| {one:.2f} | {two:.2f} | {auto:.2f} | {', '.join(used)} |")


def two_runs_seconds(threads: int | None, dataset: str, train_size: int, epochs: int) -> tuple[float, list[str]]:
    """Two runs started together: (seconds until both finished, each run's threads, epoch by epoch)."""
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        start = time.perf_counter()
        runs = [subprocess.Popen(_train_argv(folder, dataset, train_size, epochs, threads),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for folder in (first, second)]
        if [run.wait() for run in runs] != [0, 0]:  # both waited for, even when one failed
            raise SystemExit("cnn-tui train failed")
        seconds = time.perf_counter() - start
        return seconds, [_by_epoch(_epochs(folder)[1]) for folder in (first, second)]


def two_runs(args: argparse.Namespace) -> None:
    times: dict[int | None, list[float]] = {2: [], None: []}
    used: list[str] = []
    for _ in range(args.rounds):
        for threads in times:
            seconds, per_run = two_runs_seconds(threads, args.dataset, args.train_size, args.epochs)
            times[threads].append(seconds)
            if threads is None:
                used += per_run
    print(f"{machine_line()}; two runs at once, {args.dataset}, {args.train_size} images, {args.epochs} epochs "
          f"each, medians of {args.rounds} rounds")
    print("| both runs with | seconds until both finished | threads, epoch by epoch |")
    print("|---|---|---|")
    print(f"| --threads 2 | {statistics.median(times[2]):.1f} | 2 throughout |")
    print(f"| the default | {statistics.median(times[None]):.1f} | {', '.join(used)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (the first is left out of the figure)")
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--two-runs", action="store_true", help="two training runs at once instead")
    parser.add_argument("--quota", type=float, metavar="CPUS", help="runs alone in a cgroup limited to CPUS instead")
    args = parser.parse_args()
    if args.two_runs:
        two_runs(args)
        return
    if args.quota:
        quota_runs(args)
        return
    cases = [(neighbour, threads) for neighbour in NEIGHBOURS for threads in (1, 2, None)]
    times: dict[tuple[str, int | None], list[float]] = {case: [] for case in cases}
    used: dict[str, list[str]] = {neighbour: [] for neighbour in NEIGHBOURS}
    for _ in range(args.rounds):
        for neighbour, threads in cases:
            seconds, per_epoch = run_seconds(threads, neighbour, args.dataset, args.train_size, args.epochs)
            times[(neighbour, threads)].append(seconds)
            if threads is None:
                used[neighbour].append(_by_epoch(per_epoch))
    print(f"{machine_line()}; {args.dataset}, {args.train_size} images, {args.epochs} epochs a run, "
          f"medians of {args.rounds} rounds")
    print("| competing busy process | 1 thread (s/epoch) | 2 threads (s/epoch) | default (s/epoch) "
          "| default's threads, epoch by epoch |")
    print("|---|---|---|---|---|")
    for neighbour in NEIGHBOURS:
        one, two, auto = (statistics.median(times[(neighbour, t)]) for t in (1, 2, None))
        print(f"| {neighbour} | {one:.2f} | {two:.2f} | {auto:.2f} | {', '.join(used[neighbour])} |")


if __name__ == "__main__":
    main()
