"""What the trainer reports, and how another thread steers it.

Events are plain data (numbers and strings, never tensors) so that a CLI printer, the app's
worker or a test can consume them without knowing anything about torch. Pure Python.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Union

from ..words import worded

# Final statuses of a run, as session.json records them.
RUNNING, FINISHED, STOPPED, FAILED = "running", "finished", "stopped", "failed"


@dataclass(frozen=True)
class TrainingStarted:
    """The run is set up: data loaded, model built, ready for its first epoch."""

    session: str
    device: str  # what was used: "cpu", "cuda", "cuda:0", "mps"
    device_name: str  # e.g. "NVIDIA H200" or the CPU's name
    start_epoch: int  # > 0 when resuming
    epochs: int  # the total the session will have when done
    train_samples: int
    test_samples: int
    batches_per_epoch: int
    total_params: int


@dataclass(frozen=True)
class EpochStarted:
    epoch: int
    epochs: int
    batches: int


@dataclass(frozen=True)
class BatchProgress:
    """Throttled (a few per second): where the current epoch is."""

    epoch: int
    batch: int  # batches done in this epoch
    batches: int
    samples: int  # images done in this epoch
    images_per_second: float
    eta_seconds: float  # for the rest of this epoch
    mean_loss: float  # mean of the per-batch losses so far this epoch
    gpu_memory_bytes: int | None = None  # allocated, under CUDA
    state: str = "training"  # what the trainer acknowledges: training, paused or stopping
    epochs: int = 0  # the run's epoch target
    system: dict[str, Any] | None = None  # memory, CPU, GPUs (cnn_tui.core.system)
    # the mean loss of each batch done since the previous BatchProgress, from batch
    # `first_batch` on (a distributed run's rank: its share times the world size)
    batch_losses: tuple[float, ...] = ()
    first_batch: int = 0


@dataclass(frozen=True)
class EpochFinished:
    """One finished epoch; `metrics` is exactly the metrics.jsonl line."""

    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def epoch(self) -> int:
        return int(self.metrics["epoch"])

    @property
    def confusion(self) -> list[list[int]] | None:
        """The test set's confusion matrix (rows: true class, columns: predicted class);
        None in a line written before matrices were recorded."""
        return self.metrics.get("confusion")


@dataclass(frozen=True)
class TrainingEnded:
    """The run is over: finished, stopped (by request) or failed (with the reason)."""

    status: str
    reason: str | None = None  # as recorded in the session: neutral words
    epochs_done: int = 0
    user_error: bool = False  # e.g. the dataset is missing: the person can fix it
    problem: Exception | None = None  # the error behind `reason`, in this process only

    def reason_for(self, audience: str) -> str:
        """The reason worded for the command line ("cli") or the app ("app"): a setting to
        change is named as a flag or as a field."""
        if self.problem is not None:
            return worded(self.problem, audience)
        return self.reason or ""


class Terminated(Exception):
    """The process was asked to end (SIGTERM): torchrun tearing down a distributed run whose
    other process failed, or someone killing the run. The trainer records it and returns."""


TrainerEvent = Union[TrainingStarted, EpochStarted, BatchProgress, EpochFinished, TrainingEnded]
EventSink = Callable[[TrainerEvent], None]


class TrainingControl:
    """Stop / pause / resume a run from any thread. The trainer checks it between batches.

    Other sources of commands (a session's control channel, read by the trainer) register a
    poller; `poll()` runs them at most every POLL_INTERVAL seconds, also while paused."""

    POLL_INTERVAL = 0.1

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()  # set = not paused
        self._running.set()
        self._pollers: list[Callable[["TrainingControl"], None]] = []
        self._last_poll = 0.0
        self.terminal_lost = threading.Event()  # the terminal that started the run hung up
        self.ending = threading.Event()  # the run is recording how it ended: let it finish

    def add_poller(self, poller: Callable[["TrainingControl"], None]) -> None:
        self._pollers.append(poller)

    def poll(self) -> None:
        now = time.monotonic()
        if self._pollers and now - self._last_poll >= self.POLL_INTERVAL:
            self._last_poll = now
            for poller in self._pollers:
                poller(self)

    @property
    def state(self) -> str:
        return "stopping" if self.stop_requested else "paused" if self.paused else "training"

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused run must wake up to stop

    def pause(self) -> None:
        if not self._stop.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def toggle_pause(self) -> bool:
        """Pause if running, resume if paused; returns True when now paused."""
        if self.paused:
            self.resume()
        else:
            self.pause()
        return self.paused

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused_for(self, seconds: float, poll: float = 0.1) -> None:
        """`wait_while_paused`, but for at most `seconds`."""
        deadline = time.monotonic() + seconds
        while not self._running.wait(min(poll, max(0.0, deadline - time.monotonic()))):
            if self._stop.is_set() or time.monotonic() >= deadline:
                return
            self.poll()

    def wait_while_paused(self, poll: float = 0.1) -> None:
        """Block while paused; returns at once when running or when a stop is requested."""
        while not self._running.wait(poll):
            if self._stop.is_set():
                return
            self.poll()
