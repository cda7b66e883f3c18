"""Seconds per epoch with 1 and 2 torch threads, with and without a competing busy process.

    python -m cnn_tui.benchmarks.threads [--rounds 3] [--train-size 6000]
    CNN_TUI_DATA=../shared/data python -m cnn_tui.benchmarks.threads --dataset fashion-mnist

Each measurement is one epoch of the seed network in a fresh process (`cnn-tui train
--threads N`); the four cases are interleaved round by round, so a change in the machine's
other load hits all of them alike, and the table shows medians. The competing process is a
pure-Python busy loop: one core's worth of someone else's work. The last column is what
the default (no --threads) picks in that situation.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

from . import PYTHON, machine_line


def epoch_seconds(threads: int | None, dataset: str, train_size: int) -> tuple[float, int]:
    """One epoch in a fresh process: (training seconds, threads it used)."""
    with tempfile.TemporaryDirectory() as sessions:
        argv = [PYTHON, "-m", "cnn_tui", "train", "--dataset", dataset, "--epochs", "1",
                "--train-size", str(train_size), "--test-size", "100", "--sessions-dir", sessions,
                "--session", "bench"]
        if threads is not None:
            argv += ["--threads", str(threads)]
        result = subprocess.run(argv, capture_output=True, text=True, check=True)
        seconds = float(result.stdout.split("seconds:")[1].split()[0])
        used = result.stderr.split("(")[-1].split(" thread")[0]  # "... AMD EPYC (1 thread) [cpu]"
        return seconds, int(used) if used.isdigit() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--dataset", default="synthetic")
    args = parser.parse_args()
    cases = [(busy, threads) for busy in (False, True) for threads in (1, 2, None)]
    times: dict[tuple[bool, int | None], list[float]] = {case: [] for case in cases}
    picked: dict[bool, set[int]] = {False: set(), True: set()}
    for _ in range(args.rounds):
        for busy, threads in cases:
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
            try:
                if spinner is not None:
                    time.sleep(1.0)  # let it take its core before the default looks
                seconds, used = epoch_seconds(threads, args.dataset, args.train_size)
            finally:
                if spinner is not None:
                    spinner.kill()
                    spinner.wait()
            times[(busy, threads)].append(seconds)
            if threads is None:
                picked[busy].add(used)
    print(f"{machine_line()}; {args.dataset}, {args.train_size} images, medians of {args.rounds} rounds")
    print("| competing busy process | 1 thread (s/epoch) | 2 threads (s/epoch) | default (s/epoch) | default picked |")
    print("|---|---|---|---|---|")
    for busy in (False, True):
        one, two, auto = (statistics.median(times[(busy, t)]) for t in (1, 2, None))
        chosen = ", ".join(str(t) for t in sorted(picked[busy]))
        print(f"| {'yes' if busy else 'no'} | {one:.2f} | {two:.2f} | {auto:.2f} | {chosen} |")


if __name__ == "__main__":
    main()
