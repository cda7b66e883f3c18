"""One process against several: seconds per epoch and images/s of data-parallel runs.

    CNN_TUI_DATA=../shared/data python -m cnn_tui.benchmarks.distributed_speed [--epochs 3] [--rounds 3]
    python -m cnn_tui.benchmarks.distributed_speed --gpu      # on a machine with GPUs

CPU (the default): the reference configuration (the seed network, FashionMNIST, batch 100;
60,000 synthetic images when no data folder is set) as 1 process × 2 threads against
2 processes × 1 thread, in alternating order, each a fresh `cnn-tui train`. Seconds per epoch
are medians over the epochs after the first and over the rounds. It also prints how far the
two runs' numbers are apart (they take the same steps, summed in another order).

GPU (`--gpu`): the reference configuration and the `vgg-small` preset on 1 GPU against every
visible GPU (`--nproc-per-node auto`): images/s and the scaling efficiency
(images/s with N GPUs / (N × images/s with 1)). It needs two GPUs or more: NCCL does not run
two processes on one GPU, and it says so instead of measuring.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

from . import PYTHON, machine_line


def run(args: list[str], epochs: int, data: str | None) -> list[dict]:
    """One `cnn-tui train` with `args`; its metrics rows."""
    sessions = tempfile.mkdtemp()
    dataset = ["--data-dir", data] if data else ["--dataset", "synthetic", "--train-size", "60000",
                                                  "--test-size", "10000"]
    command = [PYTHON, "-m", "cnn_tui", "train", *dataset, "--epochs", str(epochs), "--session", "bench",
               "--sessions-dir", sessions, *args]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    lines = Path(sessions, "bench", "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def steady(rows: list[dict], key: str) -> list[float]:
    """`key` of every epoch but the first (which pays for warming up)."""
    return [row[key] for row in rows[1:]] or [row[key] for row in rows]


def cpu(epochs: int, rounds: int, data: str | None) -> None:
    cases = {"1 process × 2 threads": ["--device", "cpu", "--threads", "2"],
             "2 processes × 1 thread": ["--device", "cpu", "--threads", "1", "--nproc-per-node", "2"]}
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    last: dict[str, list[dict]] = {}
    for round_ in range(rounds):
        order = list(cases) if round_ % 2 == 0 else list(reversed(cases))  # ABBA: drift hits both alike
        for name in order:
            last[name] = run(cases[name], epochs, data)
            seconds[name] += steady(last[name], "seconds")
    where = "FashionMNIST" if data else "60,000 synthetic images"
    print(f"{machine_line()}; reference configuration, {where}, {epochs} epochs × {rounds} rounds")
    print("| processes × threads | s/epoch (median) | images/s |")
    print("|---|---|---|")
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    samples = last[next(iter(cases))][0]["samples"]
    for name, value in medians.items():
        print(f"| {name} | {value:.2f} | {samples / value:,.0f} |")
    one, two = (last[name] for name in cases)
    loss = max(abs(a["total_loss"] - b["total_loss"]) / a["total_loss"] for a, b in zip(one, two))
    correct = max(abs(a["total_correct"] - b["total_correct"]) for a, b in zip(one, two))
    print(f"2 processes / 1 process, seconds per epoch: {medians[list(cases)[1]] / medians[list(cases)[0]]:.2f}; "
          f"numbers apart by at most {loss:.1e} (relative loss) and {correct} (total_correct) per epoch")


def gpu(epochs: int, data: str | None) -> None:
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count < 2:
        print(f"{count} GPU(s) visible: NCCL needs one GPU per process, so 1 GPU against several was not measured")
        return
    print(f"{machine_line()}; {torch.cuda.get_device_name(0)} × {count}; {epochs} epochs")
    print("| network | GPUs | s/epoch (median) | images/s | scaling efficiency |")
    print("|---|---|---|---|---|")
    for network in ("seed", "vgg-small"):
        single = None
        for processes in ("1", "auto"):
            rows = run(["--preset", network, "--device", "cuda", "--nproc-per-node", processes], epochs, data)
            rate = statistics.median(steady(rows, "images_per_second"))
            single = single or rate
            used = 1 if processes == "1" else count
            print(f"| {network} | {used} | {statistics.median(steady(rows, 'seconds')):.2f} | {rate:,.0f} | "
                  f"{rate / (used * single):.0%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gpu", action="store_true", help="1 GPU against every visible GPU")
    args = parser.parse_args()
    data = os.environ.get("CNN_TUI_DATA") or None
    if args.gpu:
        gpu(args.epochs, data)
    else:
        cpu(args.epochs, args.rounds, data)


if __name__ == "__main__":
    main()
