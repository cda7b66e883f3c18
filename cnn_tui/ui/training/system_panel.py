"""The system panel: what the machine gives the run (device, memory, CPU, each GPU).

It formats the plain numbers the trainer samples (cnn_tui.core.system) — for a run in the
app, in the background, or watched from another login alike. No tensor work here.
"""

from __future__ import annotations

from typing import Any

from rich.filesize import decimal
from rich.text import Text
from textual.widgets import Static

from ...words import count, kernels_off

MAX_RANK_LINES = 4
SLOW = 0.9  # a rank below this share of the fastest one's speed is marked


def system_lines(system: dict[str, Any] | None) -> list[str]:
    """One line for the process, one for CUDA memory, one per GPU (when NVML is there)."""
    if not system:
        return []
    parts = [str(system.get("device", "?"))]
    threads = int(system["threads"]) if system.get("threads") else None
    if threads:
        parts.append(count(threads, "thread"))
    if system.get("cpu_percent") is not None:
        parts.append(f"CPU {float(system['cpu_percent']):.0f}%")
    if system.get("rss_bytes"):
        total = f" of {decimal(system['memory_total'])}" if system.get("memory_total") else ""
        parts.append(f"RAM {decimal(system['rss_bytes'])}{total}")
    first = system.get("threads_at_start")
    if threads and isinstance(first, int) and first != threads:
        # The count followed the machine's free cores; said last, the first to go on a narrow pane.
        parts.append(f"{first} at the start: " + ("a core is busy elsewhere" if threads < first else "a core came free"))
    lines = [" · ".join(parts)]
    if system.get("kernels_off"):
        lines.append(kernels_off(system["kernels_off"]))
    cuda = system.get("cuda")
    if isinstance(cuda, dict):
        lines.append(f"GPU memory {decimal(cuda.get('allocated', 0))} allocated · "
                     f"{decimal(cuda.get('reserved', 0))} reserved · peak {decimal(cuda.get('peak', 0))} · "
                     f"of {decimal(cuda.get('total', 0))}")
    for gpu in system.get("gpus") or []:
        lines.append(f"GPU{gpu.get('index')} {gpu.get('utilization', 0)}% busy · "
                     f"{decimal(gpu.get('memory_used', 0))} of {decimal(gpu.get('memory_total', 0))} · "
                     f"{gpu.get('temperature', 0)}°C · {float(gpu.get('power_watts', 0)):.0f} W")
    return lines + rank_lines(system.get("ranks"))


def rank_lines(ranks: Any) -> list[str]:
    """A distributed run: one line per process, the slowest marked (with MAX_RANK_LINES at
    most: beyond that the slowest and the fastest)."""
    if not isinstance(ranks, list) or not ranks:
        return []
    speeds = [rank.get("forward_images_per_second") for rank in ranks]
    known = [speed for speed in speeds if speed]
    slowest = None
    if len(known) > 1 and min(known) < SLOW * max(known):  # a rank that holds the others back
        slowest = speeds.index(min(known))

    def line(i: int) -> str:
        rank = ranks[i]
        parts = [f"rank {rank.get('rank', i)}", str(rank.get("device", "?"))]
        if speeds[i]:
            parts.append(f"forward {speeds[i]:,.0f} img/s")
        if rank.get("memory_bytes"):
            parts.append(decimal(rank["memory_bytes"]))
        return " · ".join(parts) + ("  ← slowest" if i == slowest else "")

    if len(ranks) <= MAX_RANK_LINES:
        return [line(i) for i in range(len(ranks))]
    if not known:  # speeds unknown (GPUs): the first few
        return [line(i) for i in range(MAX_RANK_LINES - 1)] + [f"… and {len(ranks) - MAX_RANK_LINES + 1} more processes"]
    return [f"{len(ranks)} processes; the slowest and the fastest:",
            line(speeds.index(min(known))), line(speeds.index(max(known)))]


class SystemPanel(Static):
    """A few dim lines under the progress bar; empty until the first sample arrives."""

    DEFAULT_CSS = """
    SystemPanel { height: auto; max-height: 8; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    _rows = -1  # lines shown last time

    def show(self, system: dict[str, Any] | None) -> None:
        lines = system_lines(system)
        self.display = bool(lines)
        # Lines never wrap: the screen needs laying out again only when their number changes.
        self.update(Text("\n".join(lines), no_wrap=True, overflow="ellipsis"), layout=len(lines) != self._rows)
        self._rows = len(lines)
