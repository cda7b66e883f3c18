"""What the machine is doing for a run: memory, CPU, GPUs. Plain numbers for the system panel.

The trainer samples this a few times a second (with its progress) and records each epoch's
peak memory. CPU figures come from /proc and `resource` (Linux; elsewhere they are left
out); CUDA figures from torch; per-GPU utilisation, temperature and power from NVML when
the optional `nvidia-ml-py` package is installed (`pip install 'cnn-tui[gpu]'`).
"""

from __future__ import annotations

import os
import platform
import resource
import time
from typing import Any


def _status_bytes(key: str) -> int | None:
    """A `VmRSS:`-style line of /proc/self/status, in bytes."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def cpu_name() -> str:
    """The CPU's model name ("AMD EPYC 7B13"), or what the platform says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def total_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _nvml_gpus() -> list[dict[str, Any]] | None:
    """Each GPU's utilisation, memory, temperature and power, or None without NVML."""
    try:
        import pynvml  # from nvidia-ml-py, optional
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append({
                "index": index,
                "utilization": pynvml.nvmlDeviceGetUtilizationRates(handle).gpu,
                "memory_used": int(memory.used), "memory_total": int(memory.total),
                "temperature": pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU),
                "power_watts": pynvml.nvmlDeviceGetPowerUsage(handle) / 1000,
            })
        return gpus
    except Exception:  # NVML present but unusable (no driver): the panel just omits it
        return None


class SystemMonitor:
    """Samples the training process. `device_type` is "cpu", "cuda" or "mps"."""

    NVML_INTERVAL = 1.0  # NVML queries cost ~1 ms per GPU: once a second is plenty

    def __init__(self, device_type: str, device_index: int | None = None, threads: int | None = None) -> None:
        self.device_type = device_type
        self.device_index = device_index or 0
        self.threads = self.threads_at_start = threads  # the trainer may change `threads` (core/threads.py)
        self.kernels_off: str | None = None  # why the fast mode's compiled kernels are not used (core/native.py)
        self._cpu = (time.monotonic(), time.process_time())
        self._gpus: list[dict[str, Any]] | None = None
        self._gpus_at = 0.0
        self.total_memory = total_memory_bytes()

    def sample(self) -> dict[str, Any]:
        now, cpu = time.monotonic(), time.process_time()
        wall = now - self._cpu[0]
        cpu_percent = 100 * (cpu - self._cpu[1]) / wall if wall > 0 else 0.0
        self._cpu = (now, cpu)
        info: dict[str, Any] = {
            "device": self.device_type, "threads": self.threads, "threads_at_start": self.threads_at_start,
            "cpu_percent": round(cpu_percent, 1),
            **({"kernels_off": self.kernels_off} if self.kernels_off else {}),
            "rss_bytes": _status_bytes("VmRSS:"), "memory_total": self.total_memory,
        }
        if self.device_type == "cuda":
            import torch

            index = self.device_index
            info["cuda"] = {
                "allocated": torch.cuda.memory_allocated(index),
                "reserved": torch.cuda.memory_reserved(index),
                "peak": torch.cuda.max_memory_allocated(index),
                "total": torch.cuda.get_device_properties(index).total_memory,
            }
            if now - self._gpus_at >= self.NVML_INTERVAL:
                self._gpus, self._gpus_at = _nvml_gpus(), now
            if self._gpus is not None:
                info["gpus"] = self._gpus
        return info

    def reset_peak(self) -> None:
        """Start measuring a new epoch's peak memory."""
        if self.device_type == "cuda":
            import torch

            torch.cuda.reset_peak_memory_stats(self.device_index)
        else:
            try:  # Linux: "5" resets the peak resident set size (VmHWM) to the current one
                with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
                    refs.write("5")
            except OSError:
                pass

    def peak_bytes(self) -> int | None:
        """The peak since reset_peak: CUDA memory allocated, or the process's resident set."""
        if self.device_type == "cuda":
            import torch

            return int(torch.cuda.max_memory_allocated(self.device_index))
        peak = _status_bytes("VmHWM:")
        if peak is None:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return peak
