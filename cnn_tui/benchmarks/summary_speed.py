"""The architecture engine's figures: `cnn-tui summary` vs `import torch`, recomputing a
100-layer net (plain, and in 20 residual blocks), the table of a 40,000-layer net, and
adaptive pooling to a huge output.

    python -m cnn_tui.benchmarks.summary_speed [--repeats 9]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from . import PYTHON, interleaved_medians, machine_line


def hundred_layer_architecture() -> dict:
    """A valid 100-layer net: 24 blocks of conv 3×3 (stride 2 every sixth), batchnorm, relu
    and dropout2d, then global pooling, flatten and two linear layers."""
    layers: list[dict] = []
    for block in range(24):
        stride = 2 if block % 6 == 5 else 1
        layers += [
            {"type": "conv2d", "out_channels": 16 * (1 + block // 6), "kernel_size": 3, "padding": 1, "stride": stride},
            {"type": "batchnorm2d"},
            {"type": "relu"},
            {"type": "dropout2d", "p": 0.1},
        ]
    layers += [{"type": "adaptiveavgpool2d", "output_size": 1}, {"type": "flatten"},
               {"type": "linear", "out_features": 64}, {"type": "linear", "out_features": 10}]
    assert len(layers) == 100
    return {"input": [3, 64, 64], "layers": layers}


def hundred_layer_residual_architecture() -> dict:
    """100 layers in 20 residual blocks: each block and its conv 3×3, batchnorm, relu and
    conv 3×3 (five layers); every fifth block halves the size and doubles the channels, so
    it has a projection."""
    layers: list[dict] = []
    for block in range(20):
        channels, stride = 16 * 2 ** (block // 5), 2 if block % 5 == 0 and block else 1
        conv = {"type": "conv2d", "out_channels": channels, "kernel_size": 3, "padding": 1, "bias": False}
        layers.append({"type": "residual", "layers": [
            {**conv, "stride": stride}, {"type": "batchnorm2d"}, {"type": "relu"}, conv]})
    data = {"input": [3, 64, 64], "layers": layers}
    assert sum(1 + len(layer["layers"]) for layer in layers) == 100
    return data


def forty_thousand_layer_architecture() -> dict:
    """10,000 blocks of conv 3×3 (padding 1), batchnorm, relu and dropout2d on 1×28×28."""
    block = [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}, {"type": "batchnorm2d"},
             {"type": "relu"}, {"type": "dropout2d", "p": 0.1}]
    return {"input": [1, 28, 28], "layers": block * 10_000}


def huge_adaptive_pool_architecture() -> dict:
    """Adaptive pooling of 3×28×28 to 10^8×10^8: the bins used to be walked one by one."""
    return {"input": [3, 28, 28], "layers": [{"type": "adaptiveavgpool2d", "output_size": 10**8}]}


def recompute_ms(data: dict | None = None, repeats: int = 300) -> float:
    from cnn_tui.core.shapes import analyze

    data = data or hundred_layer_architecture()
    assert analyze(data).ok
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        analyze(data)  # parse + validate + every number, as the editor does per keystroke
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    medians = interleaved_medians(
        {
            "summary": [PYTHON, "-m", "cnn_tui", "summary"],
            "import torch": [PYTHON, "-c", "import torch"],
            "python": [PYTHON, "-c", "pass"],
        },
        args.repeats,
    )
    ms = recompute_ms()
    residual_ms = recompute_ms(hundred_layer_residual_architecture())
    pool_ms = recompute_ms(huge_adaptive_pool_architecture())
    with tempfile.TemporaryDirectory() as folder:
        big = Path(folder) / "forty-thousand.json"
        big.write_text(json.dumps(forty_thousand_layer_architecture()))
        big_medians = interleaved_medians({"table": [PYTHON, "-m", "cnn_tui", "summary", str(big)],
                                           "json": [PYTHON, "-m", "cnn_tui", "summary", str(big), "--json"]},
                                          max(1, args.repeats // 3))
    print(f"machine: {machine_line()}")
    print(f"| `cnn-tui summary` | {medians['summary']*1000:.0f} ms median of {args.repeats} |")
    print(f"| `python -c 'import torch'` | {medians['import torch']*1000:.0f} ms median |")
    print(f"| bare `python -c pass` | {medians['python']*1000:.0f} ms median |")
    print(f"| ratio summary / import torch | **{medians['summary'] / medians['import torch']:.3f}** (target ≤ 0.3) |")
    print(f"| recompute 100-layer architecture | **{ms:.2f} ms** median of 300 (target ≤ 5 ms) |")
    print(f"| recompute 100 layers in 20 residual blocks | **{residual_ms:.2f} ms** median of 300 (target ≤ 5 ms) |")
    print(f"| recompute adaptive pooling to 10^8×10^8 | **{pool_ms:.3f} ms** median of 300 |")
    print(f"| `cnn-tui summary` of 40,000 layers: table / --json | **{big_medians['table']:.2f} s** / "
          f"{big_medians['json']:.2f} s, medians of {max(1, args.repeats // 3)} |")


if __name__ == "__main__":
    main()
