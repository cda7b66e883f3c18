"""Which device a run trains on: the one rule for `auto`, and how a device is named.

The CLI, the app (probing in a thread), background runs and the trainer all ask here.
torch is imported by the functions that need it, not by this module.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..words import count
from .prepare import refuse
from .system import cpu_name

if TYPE_CHECKING:
    import torch


def pick_device(wanted: str, gpu_index: int | None = None) -> "torch.device":
    """`auto` is CUDA, else MPS, else CPU; an explicit device that is missing is refused.
    `gpu_index`: which GPU, for one process of a distributed run (its local rank)."""
    import torch

    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if wanted == "auto":
        wanted = "cuda" if cuda else "mps" if mps else "cpu"
    if wanted == "cuda" and not cuda:
        raise refuse("{device} cuda: no CUDA GPU is visible to torch here; use {device} auto or cpu", "device")
    if wanted == "mps" and not mps:
        raise refuse("{device} mps: Apple's MPS is not available here; use {device} auto or cpu", "device")
    if wanted == "cuda" and gpu_index is not None:
        if gpu_index >= torch.cuda.device_count():
            raise refuse(f"process {gpu_index} of this machine has no GPU: {torch.cuda.device_count()} are visible; "
                         "start at most that many processes per node")
        torch.cuda.set_device(gpu_index)
        return torch.device("cuda", gpu_index)
    return torch.device(wanted)


def device_name(device: "torch.device") -> str:
    """"NVIDIA H200", "Apple MPS", or the CPU's model and the threads torch uses."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    return f"{cpu_name()} ({count(torch.get_num_threads(), 'thread')})"


def gpu_memory(device: "torch.device") -> int | None:
    """A CUDA device's total memory (what the memory check measures against), else None."""
    import torch

    return torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else None


def _nvidia_driver_loaded() -> bool:
    """Could torch see a CUDA GPU here? (Checked without importing torch.)"""
    return os.path.exists("/proc/driver/nvidia")


def gpu_memory_for(wanted: str) -> int | None:
    """`gpu_memory` of the device `wanted` picks, without importing torch where no GPU can
    be picked (CPU asked for, or `auto` on a machine with no NVIDIA driver loaded)."""
    if wanted == "cpu" or (wanted == "auto" and not _nvidia_driver_loaded()):
        return None
    return gpu_memory(pick_device(wanted))


def visible_gpus(wanted: str) -> int:
    """The CUDA GPUs a run on device `wanted` could use (torch imported only where one may exist)."""
    if wanted in ("cpu", "mps") or not _nvidia_driver_loaded():
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0
