"""The trainer's figures: our trainer vs the reference loop on the real FashionMNIST.

    CNN_TUI_DATA=../shared/data python -m cnn_tui.benchmarks.train_speed [--epochs 5] [--profile]

Each configuration runs in a fresh process, one after the other, in one invocation:

- reference: the classic tutorial loop, written out below: a hand-written `Network`,
  torchvision's FashionMNIST with `ToTensor()`, `DataLoader(batch_size=100)`, Adam lr 0.01.
- `cnn-tui train --no-shuffle` (fast mode, the reference order), to set beside the published log;
- `cnn-tui train` with the default settings (shuffled);
- `cnn-tui train --no-shuffle --exact` (reference-compatible mode);
- `cnn-tui train --no-shuffle` with `CNN_TUI_NATIVE=0`: the fast mode with torch's own
  convolution and max pool instead of the compiled kernel that runs them as one.

Seconds per epoch are the training loop's (the reference has no test pass; ours times its
test pass separately), as medians over the epochs; ratios are reference / ours.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from . import PYTHON, machine_line

PUBLISHED = [(47387, 330.62), (51657, 226.34), (52290, 207.49), (52663, 197.29), (52923, 190.04)]


def reference_loop(data_dir: str, epochs: int, seed: int):
    """The reference loop, as the classic tutorial writes it; yields per epoch
    (total_correct, total_loss, seconds)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision
    from torchvision import transforms

    class Network(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels=1, out_channels=6, kernel_size=5)
            self.conv2 = nn.Conv2d(in_channels=6, out_channels=12, kernel_size=5)
            self.fc1 = nn.Linear(in_features=12 * 4 * 4, out_features=120)
            self.fc2 = nn.Linear(in_features=120, out_features=60)
            self.out = nn.Linear(in_features=60, out_features=10)

        def forward(self, t: torch.Tensor) -> torch.Tensor:
            t = F.max_pool2d(F.relu(self.conv1(t)), kernel_size=2, stride=2)
            t = F.max_pool2d(F.relu(self.conv2(t)), kernel_size=2, stride=2)
            t = F.relu(self.fc1(t.reshape(-1, 12 * 4 * 4)))
            t = F.relu(self.fc2(t))
            return self.out(t)

    torch.manual_seed(seed)
    network = Network()
    train_set = torchvision.datasets.FashionMNIST(root=data_dir, train=True, download=False,
                                                  transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(train_set, batch_size=100)
    optimizer = torch.optim.Adam(network.parameters(), lr=0.01)
    for _ in range(epochs):
        start = time.perf_counter()
        total_loss, total_correct = 0.0, 0
        for images, labels in loader:
            preds = network(images)
            loss = F.cross_entropy(preds, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item()
            total_correct += preds.argmax(dim=1).eq(labels).sum().item()
        yield total_correct, total_loss, time.perf_counter() - start


def reference_worker(data_dir: str, epochs: int, seed: int) -> None:
    """Runs the reference loop in its own process; one JSON line per epoch."""
    for epoch, (correct, loss, seconds) in enumerate(reference_loop(data_dir, epochs, seed)):
        print(json.dumps({"epoch": epoch, "total_correct": correct, "total_loss": loss, "seconds": seconds}),
              flush=True)


def run_config(argv: list[str], env: dict[str, str] | None = None) -> dict:
    """Run a child to completion; its wall time, minor page faults and stdout."""
    import resource

    faults = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr}")
    faults = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt - faults
    return {"wall": wall, "faults": faults, "out": proc.stdout}


def ours(data_dir: str, epochs: int, extra: list[str], env: dict[str, str] | None = None) -> dict:
    with tempfile.TemporaryDirectory() as sessions:
        result = run_config([PYTHON, "-m", "cnn_tui", "train", "--data-dir", data_dir, "--epochs", str(epochs),
                             "--sessions-dir", sessions, "--session", "bench", *extra], env)
        rows = [json.loads(line) for line in Path(sessions, "bench", "metrics.jsonl").read_text().splitlines()]
    result["rows"] = rows
    return result


def reference(data_dir: str, epochs: int, seed: int) -> dict:
    result = run_config([PYTHON, "-m", "cnn_tui.benchmarks.train_speed", "--reference-worker",
                         "--data-dir", data_dir, "--epochs", str(epochs), "--seed", str(seed)])
    result["rows"] = [json.loads(line) for line in result["out"].splitlines() if line.startswith("{")]
    return result


def profile_fast_loop(data_dir: str, batches: int = 150) -> list[tuple[str, float]]:
    """Share of self CPU time per op in our fast loop (channels-last, fused Adam, each conv
    and its max pool as one kernel: the trainer's fast model)."""
    import torch
    import torch.nn.functional as F
    from torch.profiler import ProfilerActivity, profile

    from cnn_tui.core.config import TrainConfig
    from cnn_tui.core.data import load_data, scale
    from cnn_tui.core.presets import preset
    from cnn_tui.core.trainer import make_optimizer, training_model, tune_allocator

    tune_allocator()
    train, _ = load_data(TrainConfig(data_dir=data_dir), download=False)
    torch.manual_seed(0)
    model = training_model(preset("seed"), None, torch.device("cpu"), exact=False)
    optimizer = make_optimizer(model, TrainConfig(), exact=False)

    def step(i: int) -> None:
        x = scale(train.images[i * 100:(i + 1) * 100]).contiguous(memory_format=torch.channels_last)
        y = train.labels[i * 100:(i + 1) * 100]
        preds = model(x)
        loss = F.cross_entropy(preds, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for i in range(20):
        step(i)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(batches):
            step(i)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:8]
    return [(e.key, e.self_cpu_time_total / total) for e in top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("CNN_TUI_DATA"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--reference-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.data_dir:
        raise SystemExit("set CNN_TUI_DATA or --data-dir to the folder holding FashionMNIST/raw/")
    if args.reference_worker:
        reference_worker(args.data_dir, args.epochs, args.seed)
        return

    seed = ["--seed", str(args.seed)]
    # Interleaved rounds: a slow spell on this shared machine hits every configuration alike.
    rounds: list[dict[str, dict]] = []
    for _ in range(args.rounds):
        # The reference between the two fast configurations: each round's ratios compare runs
        # that follow each other.
        runs = {"default": ours(args.data_dir, args.epochs, seed)}
        runs["reference"] = reference(args.data_dir, args.epochs, args.seed)
        runs["fast"] = ours(args.data_dir, args.epochs, ["--no-shuffle", *seed])
        runs["exact"] = ours(args.data_dir, args.epochs, ["--no-shuffle", "--exact", *seed])
        runs["unfused"] = ours(args.data_dir, args.epochs, ["--no-shuffle", *seed], {"CNN_TUI_NATIVE": "0"})
        rounds.append(runs)
    ref, default, fast_ordered, exact = (rounds[0][k] for k in ("reference", "default", "fast", "exact"))

    def med(name: str) -> float:
        return statistics.median(row["seconds"] for r in rounds for row in r[name]["rows"])

    def wall(name: str) -> float:
        return statistics.median(r[name]["wall"] for r in rounds)

    def faults(name: str) -> float:
        return statistics.median(r[name]["faults"] for r in rounds) / args.epochs

    print(f"machine: {machine_line()}; {args.rounds} interleaved rounds of {args.epochs} epochs per configuration, seed {args.seed}\n")
    print("Per-epoch numbers, reference order (--no-shuffle), beside the published log:\n")
    print("| epoch | published correct | published loss | `cnn-tui train` correct | loss | Δ correct | test acc | reference loop correct | `--exact` correct |")
    print("|---|---|---|---|---|---|---|---|---|")
    for i, row in enumerate(fast_ordered["rows"]):
        pub = PUBLISHED[i] if i < len(PUBLISHED) else (None, None)
        delta = f"{(row['total_correct'] - pub[0]) / pub[0]:+.2%}" if pub[0] else ""
        print(f"| {i} | {pub[0] or ''} | {pub[1] or ''} | {row['total_correct']} | {row['total_loss']:.2f} | {delta} | "
              f"{row['test_accuracy']:.4f} | {ref['rows'][i]['total_correct']} | {exact['rows'][i]['total_correct']} |")
    identical = all(
        (r["total_correct"], round(r["total_loss"], 9)) == (e["total_correct"], round(e["total_loss"], 9))
        for r, e in zip(ref["rows"], exact["rows"])
    )
    worst = max(abs(f["total_correct"] - e["total_correct"]) / e["total_correct"]
                for f, e in zip(fast_ordered["rows"], exact["rows"]))
    print(f"\n`--exact` equals the reference loop in every epoch's total_correct and loss: **{identical}**")
    print(f"fast mode vs `--exact`, largest per-epoch total_correct difference: **{worst:.3%}** (bound 0.5%)\n")
    print("| configuration | s/epoch (median) | ratio reference / this | process wall (median) | minor page faults / epoch |")
    print("|---|---|---|---|---|")
    for name, label in (
        ("reference", "reference loop (DataLoader + ToTensor)"),
        ("default", "`cnn-tui train` (default settings, shuffled)"),
        ("fast", "`cnn-tui train --no-shuffle`"),
        ("exact", "`cnn-tui train --no-shuffle --exact`"),
        ("unfused", "`CNN_TUI_NATIVE=0 cnn-tui train --no-shuffle` (torch's conv and pool)"),
    ):
        print(f"| {label} | {med(name):.2f} | **{med('reference') / med(name):.2f}×** | {wall(name):.1f} s | "
              f"{faults(name):,.0f} |")
    for name, label in (("default", "`cnn-tui train`"), ("fast", "`cnn-tui train --no-shuffle`")):
        ratios = [statistics.median(row["seconds"] for row in r["reference"]["rows"])
                  / statistics.median(row["seconds"] for row in r[name]["rows"]) for r in rounds]
        threads = ", ".join("/".join(str(row.get("threads", "?")) for row in r[name]["rows"]) for r in rounds)
        print(f"\nreference / {label}, round by round: " + ", ".join(f"{x:.2f}×" for x in ratios)
              + f" (lowest **{min(ratios):.2f}×**); torch threads, epoch by epoch, each round: {threads}")
    if args.profile:
        print("\nWhere the fast loop's CPU time goes (torch.profiler, self time, 150 batches):\n")
        for key, share in profile_fast_loop(args.data_dir):
            print(f"- {key}: {share:.0%}")


if __name__ == "__main__":
    main()
