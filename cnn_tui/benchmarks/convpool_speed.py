"""The fused conv + max pool kernel against torch's pair, layer by layer.

    python -m cnn_tui.benchmarks.convpool_speed [--rounds 7] [--batch 100]

For each layer geometry (the seed network's two, the same at 2x and 4x the channels, and
larger ones like vgg-small's), one training step's worth of work: the forward pass and the
backward pass with a gradient as a ReLU after the pool leaves it (about half zeros). torch's
pair runs as the fast mode ran it before the kernel (channels-last, oneDNN); the kernel runs
as `ConvPool`. Both alternate within each round, in one process, with torch's threads; the
figures are medians. The last column is what the trainer does with such a layer
(`convpool.fusable`): this table is where its limits come from.
"""

from __future__ import annotations

import argparse
import statistics
import time

from . import machine_line

# (in channels, out channels, input size, kernel, padding)
GEOMETRIES = [
    (1, 6, 28, 5, 0), (6, 12, 12, 5, 0),       # the seed network
    (1, 12, 28, 5, 0), (12, 24, 12, 5, 0),     # ... twice as wide
    (1, 24, 28, 5, 0), (24, 48, 12, 5, 0),     # ... four times
    (12, 24, 12, 3, 1),                        # ... with 3x3 kernels
    (3, 32, 32, 3, 1), (4, 64, 16, 3, 1), (8, 32, 16, 3, 1),
    (16, 16, 14, 3, 1), (16, 32, 14, 3, 1), (32, 64, 16, 3, 1), (64, 128, 8, 3, 1),
]


def _timed(step, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def measure(geometry: tuple[int, int, int, int, int], batch: int, rounds: int) -> dict:
    import torch
    import torch.nn.functional as F
    from torch import nn

    from cnn_tui.core.convpool import ConvPool

    ci, co, size, kernel, padding = geometry
    torch.manual_seed(0)
    conv = nn.Conv2d(ci, co, kernel, padding=padding)
    fused = ConvPool(conv, nn.MaxPool2d(2))
    channels_last = nn.Conv2d(ci, co, kernel, padding=padding).to(memory_format=torch.channels_last)
    channels_last.load_state_dict(conv.state_dict())
    x = torch.rand(batch, ci, size, size, requires_grad=ci > 1)
    x_last = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_(ci > 1)
    grad = torch.randn(batch, co, (size + 2 * padding - kernel + 1) // 2, (size + 2 * padding - kernel + 1) // 2)
    grad[torch.rand_like(grad) < 0.5] = 0
    grad_last = grad.contiguous(memory_format=torch.channels_last)

    def torch_step() -> None:
        F.max_pool2d(channels_last(x_last), 2).backward(grad_last)

    def fused_step() -> None:
        fused(x).backward(grad)

    fused_step()
    if fused.fallback:
        raise SystemExit(f"the kernel is not available here: {fused.fallback}")
    repeats = max(5, int(0.2 / max(_timed(torch_step, 3), 1e-6)))
    times: dict[str, list[float]] = {"torch": [], "fused": []}
    for _ in range(rounds):
        times["torch"].append(_timed(torch_step, repeats))
        times["fused"].append(_timed(fused_step, repeats))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()

    import torch

    from torch import nn

    from cnn_tui.core.convpool import fusable

    print(f"machine: {machine_line()}; torch threads: {torch.get_num_threads()}; batch {args.batch}; "
          f"medians of {args.rounds} alternated rounds\n")
    print("| layer | input | torch conv + pool, forward + backward | one kernel | torch / kernel | fused by the trainer |")
    print("|---|---|---:|---:|---:|---|")
    for geometry in GEOMETRIES:
        ci, co, size, kernel, padding = geometry
        result = measure(geometry, args.batch, args.rounds)
        print(f"| {ci}→{co} @{kernel}×{kernel} p{padding}, max pool 2×2 | {ci}×{size}×{size} | "
              f"{result['torch'] * 1e3:.2f} ms | {result['fused'] * 1e3:.2f} ms | "
              f"{result['torch'] / result['fused']:.2f}× | {'yes' if fusable(nn.Conv2d(ci, co, kernel, padding=padding), nn.MaxPool2d(2)) else 'no'} |")


if __name__ == "__main__":
    main()
