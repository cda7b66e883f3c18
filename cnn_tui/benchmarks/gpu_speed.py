"""Training speed on a GPU, mode by mode: the prepared benchmark for a GPU machine.

    CNN_TUI_DATA=... python -m cnn_tui.benchmarks.gpu_speed [--epochs 3]
    python -m cnn_tui.benchmarks.gpu_speed --device cpu --epochs 2 --train-size 2000   # a trial run

Trains two networks, each in every mode, one run after the other in this process: the
reference configuration (the seed network on FashionMNIST, batch 100; 60,000 synthetic
images when CNN_TUI_DATA is not set) and `vgg-small` (synthetic 3×32×32 images, batch 100).
The modes: `--exact` (plain float32, the reference loop's arithmetic), the default fast mode
(channels-last, fused Adam, TF32 on a GPU), and mixed precision in bf16 and in fp16.

Prints one table: seconds per epoch (the median of the epochs after the first, which holds
the warm-up: cuDNN's algorithm search, the allocator filling), images per second, the
largest peak memory an epoch recorded (the GPU's allocation peak under CUDA), and the last
epoch's test accuracy. Installs nothing; needs the project's own requirements. Exits 2 when
the device asked for is not there.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from typing import Any

from . import machine_line

MODES: dict[str, dict[str, Any]] = {  # --modes name: how the table names it, and the run's settings
    "exact": {"label": "--exact (float32)", "exact": True, "amp": None},
    "fast": {"label": "default (fast)", "exact": False, "amp": None},
    "bf16": {"label": "--amp bf16", "exact": False, "amp": "bf16"},
    "fp16": {"label": "--amp fp16", "exact": False, "amp": "fp16"},
}


def networks(train_size: int | None, test_size: int | None) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each network's preset and configuration (without device, epochs or mode)."""
    if os.environ.get("CNN_TUI_DATA"):  # None: the whole split
        reference = {"dataset": "fashion-mnist", "shuffle": False, "train_size": train_size, "test_size": test_size}
    else:
        reference = {"dataset": "synthetic", "input_shape": (1, 28, 28), "shuffle": False,
                     "train_size": train_size or 60_000, "test_size": test_size or 10_000}
    vgg = {"dataset": "synthetic", "input_shape": (3, 32, 32),
           "train_size": train_size or 50_000, "test_size": test_size or 10_000}
    return {"reference (seed)": ("seed", reference), "vgg-small": ("vgg-small", vgg)}


def measure(preset_name: str, settings: dict[str, Any], mode: dict[str, Any], device: str,
            epochs: int) -> dict[str, float]:
    """One run: its seconds per epoch, images per second, peak memory and last accuracy."""
    from cnn_tui.core.config import TrainConfig
    from cnn_tui.core.presets import preset
    from cnn_tui.core.sessions import SessionStore
    from cnn_tui.core.trainer import train

    store = SessionStore(tempfile.mkdtemp())
    config = TrainConfig(epochs=epochs, device=device, amp=mode["amp"], **settings)
    ended = train(preset(preset_name), config, store, "run", exact=mode["exact"])
    if ended.status != "finished":
        raise SystemExit(f"{preset_name}: the run {ended.status}: {ended.reason}")
    rows, _ = store.open("run").read_metrics()
    timed = rows[1:] or rows  # past the first epoch's warm-up, where there is more than one
    seconds = statistics.median(row["seconds"] for row in timed)
    return {"seconds": seconds, "images_per_second": rows[0]["samples"] / seconds,
            "peak_bytes": max(row.get("peak_memory_bytes") or 0 for row in rows),
            "test_accuracy": rows[-1]["test_accuracy"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (the first is warm-up)")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--train-size", type=int, help="fewer training images (a trial run)")
    parser.add_argument("--test-size", type=int, help="fewer test images (a trial run)")
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES), metavar="MODE",
                        help=f"which modes, of {', '.join(MODES)} (default: all)")
    args = parser.parse_args(argv)

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU visible: nothing measured (--device cpu runs the same table on the CPU)")
        return 2
    where = torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU"
    print(f"{where}; torch {torch.__version__}; {machine_line()}; {args.epochs} epochs per run")
    print()
    print("| network | mode | s/epoch | images/s | peak memory | test accuracy |")
    print("|---|---|---|---|---|---|")
    for network, (preset_name, settings) in networks(args.train_size, args.test_size).items():
        for mode in args.modes:
            figures = measure(preset_name, settings, MODES[mode], args.device, args.epochs)
            print(f"| {network} | {MODES[mode]['label']} | {figures['seconds']:.3g} | {figures['images_per_second']:,.0f} | "
                  f"{figures['peak_bytes'] / 2**20:,.0f} MiB | {figures['test_accuracy']:.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
