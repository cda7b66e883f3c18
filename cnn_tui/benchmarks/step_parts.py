"""What a training batch spends outside the network, and whether the usual remedies pay.

    CNN_TUI_DATA=../shared/data python -m cnn_tui.benchmarks.step_parts [--rounds 8]

On the reference configuration (the seed network as the trainer's fast mode runs it,
batches of 100, fused Adam), in one process with the trainer's thread count:

- a whole training step (forward, loss, backward, Adam), for scale;
- making a batch: scaling a slice of the uint8 dataset to float (as the trainer does) against
  slicing a float copy of the dataset made once, in order and shuffled;
- the epoch's running sums (loss, correct count, each batch's loss) after a step;
- a training step with denormal floats flushed to zero, alternated with one without.

Each figure is the median over `rounds` timed windows; the flush comparison alternates its
two settings window by window so that the machine's mood hits both alike. Without the real
FashionMNIST (CNN_TUI_DATA unset) it runs on random images of the same size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from . import machine_line

BATCH = 100


def per_call_us(fn: Callable[[int], object], calls: int, rounds: int) -> float:
    """Median over `rounds` windows of the mean time of one call, in microseconds."""
    for i in range(20):
        fn(i)
    windows = []
    for r in range(rounds):
        start = time.perf_counter()
        for i in range(calls):
            fn(r * calls + i)
        windows.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(windows)


def measure(data_dir: str | None, rounds: int, calls: int = 150, random_images: int = 60_000) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    from ..core.config import TrainConfig
    from ..core.data import load_data, scale
    from ..core.presets import preset
    from ..core.threads import default_threads
    from ..core.trainer import make_optimizer, training_model, tune_allocator

    tune_allocator()
    torch.set_num_threads(default_threads())
    if data_dir:
        train, _ = load_data(TrainConfig(data_dir=data_dir), download=False)
        images, labels = train.images, train.labels
    else:
        images = torch.randint(0, 256, (random_images, 1, 28, 28), dtype=torch.uint8)
        labels = torch.randint(0, 10, (random_images,))
    batches = len(images) // BATCH
    as_float = scale(images).contiguous(memory_format=torch.channels_last)  # the remedy: once
    order = torch.randperm(len(images))

    torch.manual_seed(0)
    model = training_model(preset("seed"), None, torch.device("cpu"), exact=False)  # the trainer's fast model
    optimizer = make_optimizer(model, TrainConfig(), exact=False)
    last = {}

    def rows(i: int) -> slice:
        i %= batches
        return slice(i * BATCH, (i + 1) * BATCH)

    def step(i: int) -> None:
        x = scale(images[rows(i)]).contiguous(memory_format=torch.channels_last)
        y = labels[rows(i)]
        preds = model(x)
        loss = F.cross_entropy(preds, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        last["preds"], last["loss"], last["labels"] = preds, loss, y

    total_loss = torch.zeros((), dtype=torch.float64)
    total_correct = torch.zeros((), dtype=torch.int64)
    batch_losses = torch.zeros(batches)

    def sums(i: int) -> None:  # what the trainer adds up after each step
        share = last["loss"].detach()
        total_loss.add_(share.double())
        batch_losses[i % batches] = share
        total_correct.add_(last["preds"].detach().argmax(dim=1).eq(last["labels"]).sum())

    figures = {"training step": per_call_us(step, calls, rounds)}
    figures["batch from uint8, in order"] = per_call_us(
        lambda i: scale(images[rows(i)]).contiguous(memory_format=torch.channels_last), calls * 10, rounds)
    figures["batch from a float copy, in order"] = per_call_us(lambda i: as_float[rows(i)], calls * 10, rounds)
    figures["batch from uint8, shuffled"] = per_call_us(
        lambda i: scale(images[order[rows(i)]]).contiguous(memory_format=torch.channels_last), calls * 10, rounds)
    figures["batch from a float copy, shuffled"] = per_call_us(lambda i: as_float[order[rows(i)]], calls * 10, rounds)
    figures["running sums"] = per_call_us(sums, calls * 10, rounds)

    flushed: dict[bool, list[float]] = {True: [], False: []}
    for r in range(rounds):
        for flush in (True, False) if r % 2 else (False, True):
            torch.set_flush_denormal(flush)
            flushed[flush].append(per_call_us(step, calls, 1))
    torch.set_flush_denormal(False)
    figures["training step, denormals flushed"] = statistics.median(flushed[True])
    figures["training step, denormals kept"] = statistics.median(flushed[False])
    figures["float copy, extra memory (MB)"] = as_float.numel() * 4 / 1e6
    figures["threads"] = torch.get_num_threads()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("CNN_TUI_DATA"))
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    figures = measure(args.data_dir, args.rounds)
    step = figures["training step"]
    print(machine_line(), "·", "real FashionMNIST" if args.data_dir else "random images")
    print("| part of a batch | µs (median) | share of a training step |")
    print("|---|---:|---:|")
    for name, value in figures.items():
        if name in ("threads", "float copy, extra memory (MB)"):
            continue
        print(f"| {name} | {value:,.1f} | {value / step:.1%} |")
    print(f"threads: {figures['threads']}; the float copy holds "
          f"{figures['float copy, extra memory (MB)']:,.0f} MB more than the uint8 images")


if __name__ == "__main__":
    main()
