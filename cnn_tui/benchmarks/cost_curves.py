"""How the cost of an epoch grows with the network and with the data: seconds per epoch and
peak memory for the presets, for the reference network at several widths, and for the
reference network on more and more images.

    python -m cnn_tui.benchmarks.cost_curves [--images 4000] [--device cpu] [--rounds 3]

Each case is a fresh `cnn-tui train` process on synthetic images (no download, any shape),
two epochs; the second epoch's seconds are quoted (the first includes warm-up) and the run's
peak memory as the trainer records it (CPU: the process's resident high-water mark, torch
itself included; CUDA: the most memory allocated on the GPU). Prints the tables and a
plotext chart of seconds per epoch against MACs per image.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
from pathlib import Path

from . import PYTHON, machine_line

# The reference network with its conv channels and hidden features scaled by `w`.
WIDTHS = (0.5, 1, 2, 4)


def seed_at_width(w: float) -> dict:
    from ..core.presets import preset

    data = preset("seed").to_dict()
    for layer in data["layers"]:
        for field in ("out_channels", "out_features"):
            if field in layer and layer is not data["layers"][-1]:
                layer[field] = max(1, round(layer[field] * w))
    return data


def cases(images: int) -> list[tuple[str, dict | str, tuple[int, int, int], int]]:
    """(label, preset name or architecture, input shape, training images)."""
    out: list[tuple[str, dict | str, tuple[int, int, int], int]] = []
    for name, shape in (("seed", (1, 28, 28)), ("lenet5", (1, 28, 28)), ("vgg-small", (3, 32, 32)),
                        ("vgg-bn", (3, 32, 32)), ("resnet-small", (1, 28, 28))):
        out.append((f"preset {name}", name, shape, images))
    for w in WIDTHS:
        if w != 1:
            out.append((f"seed ×{w:g} wide", seed_at_width(w), (1, 28, 28), images))
    for n in (images // 4, images // 2, images * 2):
        out.append((f"seed, {n:,} images", "seed", (1, 28, 28), n))
    return out


def run_case(arch: dict | str, shape: tuple[int, int, int], images: int, device: str, folder: Path) -> dict:
    """Train two epochs in a fresh process; the second epoch's row of metrics.jsonl."""
    source = ["--preset", arch] if isinstance(arch, str) else []
    if isinstance(arch, dict):
        path = folder / "arch.json"
        path.write_text(json.dumps(arch))
        source = [str(path)]
    sessions = folder / "s"
    session = f"cost-{len(list(sessions.iterdir())) if sessions.exists() else 0}"
    subprocess.run([PYTHON, "-m", "cnn_tui", "train", *source, "--dataset", "synthetic", "--input",
                    ",".join(map(str, shape)), "--train-size", str(images), "--test-size", str(max(100, images // 10)),
                    "--epochs", "2", "--device", device, "--session", session, "--sessions-dir", str(folder / "s")],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lines = (folder / "s" / session / "metrics.jsonl").read_text().splitlines()
    return json.loads(lines[-1])


def main() -> None:
    from ..core.presets import preset
    from ..core.shapes import infer_shapes
    from ..core.spec import Architecture

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4000, help="training images per epoch (default 4000)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=3, help="every case once per round; medians (default 3)")
    args = parser.parse_args()
    measured: dict[str, list[dict]] = {}
    todo = cases(args.images)
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        for _ in range(args.rounds):  # round by round, so the machine's mood hits every case alike
            for label, arch, shape, images in todo:
                measured.setdefault(label, []).append(run_case(arch, shape, images, args.device, folder))
    rows = []
    for label, arch, shape, images in todo:
        summary = infer_shapes(preset(arch) if isinstance(arch, str) else Architecture.from_dict(arch), shape)
        runs = measured[label]
        peaks = [r["peak_memory_bytes"] for r in runs if r.get("peak_memory_bytes")]
        rows.append((label, shape, images, summary.total_params, summary.total_macs,
                     statistics.median(r["seconds"] for r in runs), statistics.median(peaks) if peaks else None))
    print(f"machine: {machine_line()}, device {args.device}, medians of {args.rounds} rounds")
    print("| network | input | images | params | MACs / image | s / epoch | images / s | peak memory |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for label, shape, images, params, macs, seconds, peak in rows:
        print(f"| {label} | {'×'.join(map(str, shape))} | {images:,} | {params:,} | {macs:,} | {seconds:.2f} | "
              f"{images / seconds:,.0f} | {peak / 1e6:,.0f} MB |" if peak else "| – |")
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(72, 18)
    plt.theme("clear")
    plt.title(f"seconds per epoch of {args.images:,} images against MACs per image")
    plt.xscale("log")
    plt.yscale("log")
    nets = [r for r in rows if r[2] == args.images]
    plt.scatter([r[4] for r in nets], [r[5] for r in nets], marker="•")
    for r in nets:
        plt.text(r[0].replace("preset ", "").replace(" wide", ""), r[4], r[5])
    ticks = [10**k for k in range(4, 9)]
    plt.xticks(ticks, [f"{t:,.0f}".replace(",000,000", "M").replace(",000", "k") for t in ticks])
    plt.xlabel("MACs per image")
    print(plt.uncolorize(plt.build()))


if __name__ == "__main__":
    main()
