"""The headless training engine: data on the device, a fast loop, events out, sessions on disk.

`train()` is the whole run. It reports plain-data events (cnn_tui.core.events) to a callback
and obeys a TrainingControl from any thread; it knows nothing about Textual or the CLI.

The per-epoch numbers are the reference loop's: `total_loss` is the sum of the
per-batch mean losses and `total_correct` counts the predictions made *before* each step.
Two modes compute them:

- fast (default): channels-last convolutions and a fused Adam step. Same data, same order,
  same scaling, same initial weights; only floating-point rounding differs.
- exact (`exact=True`, `cnn-tui train --exact`): plain NCHW tensors and torch's default
  Adam, which reproduces the reference loop bit for bit (same seed, same order).
"""

from __future__ import annotations

import ctypes
import math
import platform
import sys
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from ..words import SettingError
from .build import build_model
from .config import TrainConfig
from .data import DataError, Split, load_data, scale
from .events import (
    FAILED,
    FINISHED,
    STOPPED,
    BatchProgress,
    EpochFinished,
    EpochStarted,
    EventSink,
    TrainingControl,
    TrainingEnded,
    TrainingStarted,
)
from .device import device_name, gpu_memory, pick_device
from .prepare import TrainingRefused, check_more_epochs, prepare
from .sessions import Checkpoint, Session, SessionError, SessionRecord, SessionStore, new_record
from .spec import Architecture
from .system import SystemMonitor
from .threads import default_threads

PROGRESS_INTERVAL = 0.25  # seconds between BatchProgress events (≤ 4 per second)
EVAL_BATCH = 1000  # test-set evaluation batch; no gradients, so bigger is cheaper


# --- the machine ------------------------------------------------------------------------

_allocator_tuned = False


def tune_allocator() -> None:
    """Keep glibc malloc from handing the large activation buffers back to the OS after
    every batch. Without this, each batch re-faults its buffers in: on a 2-core machine we
    measured ~1.1 million minor page faults per epoch, about 40% of the epoch's time.
    Process-wide and harmless: freed memory is kept for reuse instead of unmapped."""
    global _allocator_tuned
    if _allocator_tuned or sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_trim_threshold, 256 << 20)
        libc.mallopt(m_mmap_threshold, 32 << 20)  # glibc's maximum on 64-bit
    except OSError:
        return
    _allocator_tuned = True


# --- one run ----------------------------------------------------------------------------


@dataclass
class _Run:
    """Everything a run holds while it trains."""

    session: Session
    config: TrainConfig
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    device: torch.device
    train: Split
    test: Split
    shuffle_gen: torch.Generator
    channels_last: bool
    start_epoch: int
    monitor: SystemMonitor


def make_optimizer(model: torch.nn.Module, config: TrainConfig, exact: bool) -> torch.optim.Optimizer:
    params = model.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)
    if exact:
        return torch.optim.Adam(params, lr=config.lr)  # torch's default: the reference's
    return torch.optim.Adam(params, lr=config.lr, fused=True)


def _checkpoint(run: _Run, epochs_done: int) -> Checkpoint:
    rng: dict[str, Any] = {"torch": torch.get_rng_state(), "shuffle": run.shuffle_gen.get_state()}
    if run.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return Checkpoint(model=run.model.state_dict(), optimizer=run.optimizer.state_dict(), epoch=epochs_done,
                      rng=rng, architecture=run.session.record.architecture)


def _restore(run: _Run, checkpoint: Checkpoint) -> None:
    try:
        run.model.load_state_dict(checkpoint.model)
        run.optimizer.load_state_dict(checkpoint.optimizer)
        torch.set_rng_state(checkpoint.rng["torch"])
        run.shuffle_gen.set_state(checkpoint.rng["shuffle"])
        if run.device.type == "cuda" and "cuda" in checkpoint.rng:
            torch.cuda.set_rng_state_all(checkpoint.rng["cuda"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise SessionError(f"{run.session.checkpoint_file}: does not fit this session's model ({str(exc).splitlines()[0][:160]})") from None


def evaluate(model: torch.nn.Module, split: Split, channels_last: bool) -> tuple[float, int]:
    """Summed cross-entropy and correct count over a split, under eval() and no_grad()."""
    model.eval()
    total_loss = torch.zeros((), dtype=torch.float64, device=split.images.device)
    correct = torch.zeros((), dtype=torch.int64, device=split.images.device)
    with torch.no_grad():
        for start in range(0, len(split), EVAL_BATCH):
            x = scale(split.images[start:start + EVAL_BATCH])  # (B, C, H, W)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = split.labels[start:start + EVAL_BATCH]
            preds = model(x)  # (B, classes)
            total_loss += F.cross_entropy(preds, y, reduction="sum").double()
            correct += preds.argmax(dim=1).eq(y).sum()
    model.train()
    return float(total_loss), int(correct)


class _LossDiverged(Exception):
    pass


class _Epoch:
    """One pass over the training set, as short steps: take a batch, train on it, report
    progress a few times a second, and turn the sums into the epoch's metrics row."""

    def __init__(self, run: _Run, epoch: int, epochs: int, on_event: EventSink, control: TrainingControl) -> None:
        self.run, self.epoch, self.epochs, self.on_event, self.control = run, epoch, epochs, on_event, control
        self.samples = len(run.train)
        self.batches = math.ceil(self.samples / run.config.batch_size)
        # Summed on the device: no host sync per batch (it would stall a GPU).
        self.total_loss = torch.zeros((), dtype=torch.float64, device=run.device)
        self.total_correct = torch.zeros((), dtype=torch.int64, device=run.device)
        self.progress = BatchProgress(epoch=epoch, batch=0, batches=self.batches, samples=0,
                                      images_per_second=0.0, eta_seconds=0.0, mean_loss=0.0, epochs=epochs)
        self.start = self.last_report = 0.0

    def run_epoch(self) -> dict[str, Any] | None:
        """The metrics row, or None when a stop came mid-epoch."""
        run = self.run
        self.on_event(EpochStarted(self.epoch, self.epochs, self.batches))
        # The permutation comes from the run's own generator, whose state the checkpoint keeps.
        order = torch.randperm(self.samples, generator=run.shuffle_gen).to(run.device) if run.config.shuffle else None
        self.start = self.last_report = time.perf_counter()
        run.monitor.reset_peak()
        for batch in range(self.batches):
            self.control.poll()  # commands from watchers, at most every POLL_INTERVAL
            if self.control.paused:
                self._hold_while_paused()
            if self.control.stop_requested:
                return None
            images, labels, end = self._batch(batch, order)
            self._train_step(images, labels)
            self._report(batch, end)
        return self._metrics(time.perf_counter() - self.start)

    def _hold_while_paused(self) -> None:
        """Acknowledge the pause, wait for resume or stop; paused time is not training time."""
        paused_at = time.perf_counter()
        self.on_event(replace(self.progress, state="paused", system=self.run.monitor.sample()))
        self.control.wait_while_paused()
        self.start += time.perf_counter() - paused_at
        self.on_event(replace(self.progress, state=self.control.state, system=self.run.monitor.sample()))

    def _batch(self, batch: int, order: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The batch's images (B, C, H, W, float in [0, 1]) and labels, and where it ends."""
        run, size = self.run, self.run.config.batch_size
        lo, hi = batch * size, min(self.samples, (batch + 1) * size)
        if order is None:
            images, labels = run.train.images[lo:hi], run.train.labels[lo:hi]
        else:
            index = order[lo:hi]
            images, labels = run.train.images[index], run.train.labels[index]
        x = scale(images)
        if run.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, labels, hi

    def _train_step(self, x: torch.Tensor, labels: torch.Tensor) -> None:
        """Forward, backward, step; the batch's mean loss and correct count (made before the
        step, as the reference loop counts them) are added on the device."""
        run = self.run
        preds = run.model(x)  # (B, classes)
        loss = F.cross_entropy(preds, labels)
        run.optimizer.zero_grad()
        loss.backward()
        run.optimizer.step()
        self.total_loss += loss.detach().double()
        self.total_correct += preds.detach().argmax(dim=1).eq(labels).sum()

    def _report(self, batch: int, samples_done: int) -> None:
        """A BatchProgress at most every PROGRESS_INTERVAL, and after the last batch."""
        now = time.perf_counter()
        if now - self.last_report < PROGRESS_INTERVAL and batch != self.batches - 1:
            return
        self.last_report = now
        loss_so_far = float(self.total_loss)  # the one host sync, a few times a second
        if not math.isfinite(loss_so_far):
            raise _LossDiverged(f"loss became {loss_so_far} in epoch {self.epoch} "
                                f"(by batch {batch + 1} of {self.batches})")
        elapsed = max(now - self.start, 1e-9)
        system = self.run.monitor.sample()
        self.progress = BatchProgress(
            epoch=self.epoch, batch=batch + 1, batches=self.batches, samples=samples_done,
            images_per_second=samples_done / elapsed,
            eta_seconds=elapsed / (batch + 1) * (self.batches - batch - 1),
            mean_loss=loss_so_far / (batch + 1),
            gpu_memory_bytes=system["cuda"]["allocated"] if "cuda" in system else None,
            state=self.control.state, epochs=self.epochs, system=system,
        )
        self.on_event(self.progress)

    def _metrics(self, seconds: float) -> dict[str, Any]:
        """The epoch's metrics.jsonl row, the test set evaluated."""
        run, n = self.run, self.samples
        test_loss, test_correct = evaluate(run.model, run.test, run.channels_last)
        correct = int(self.total_correct)
        return {
            "epoch": self.epoch,
            "total_loss": float(self.total_loss),
            "total_correct": correct,
            "samples": n,
            "train_accuracy": correct / n,
            "test_loss": test_loss / len(run.test),
            "test_correct": test_correct,
            "test_samples": len(run.test),
            "test_accuracy": test_correct / len(run.test),
            "seconds": seconds,
            "images_per_second": n / seconds,
            "lr": run.optimizer.param_groups[0]["lr"],
            "batches": self.batches,
            "peak_memory_bytes": run.monitor.peak_bytes(),
        }


# What allocators say when memory runs out: CUDA, and the CPU's ("DefaultCPUAllocator:
# can't allocate memory: you tried to allocate ...", "Cannot allocate memory").
_OUT_OF_MEMORY = ("out of memory", "can't allocate memory", "cannot allocate memory", "not enough memory")


def _is_out_of_memory(exc: BaseException) -> bool:
    oom = getattr(torch.cuda, "OutOfMemoryError", ())
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or (bool(oom) and isinstance(exc, oom)) or any(s in text for s in _OUT_OF_MEMORY)


def _claim_session(store: SessionStore, name: str | None, resume: bool, claim_fd: int | None,
                   record: SessionRecord) -> Session:
    """The session this run writes, claimed: new, or the existing one to resume."""
    try:
        if not resume:
            return store.create(name, record)
        assert name is not None
        session = store.claim(name, claim_fd)
        check_more_epochs(name, session.epochs_done, int(record.config["epochs"]))
        return session
    except SessionError as exc:
        raise TrainingRefused(str(exc)) from exc


def train(
    arch: Architecture | None,
    config: TrainConfig,
    store: SessionStore,
    name: str | None = None,
    resume: bool = False,
    on_event: EventSink = lambda event: None,
    control: TrainingControl | None = None,
    exact: bool = False,
    claim_fd: int | None = None,
    force: bool = False,
) -> TrainingEnded:
    """Train, writing the session as it goes. Returns (and emits) how the run ended.

    Raises TrainingRefused before anything is written when the run cannot start. Once the
    session exists, every failure (damaged data, NaN, out of memory, a bug) is recorded in
    session.json and returned as TrainingEnded(FAILED, reason). The session is claimed for
    the whole run; `claim_fd` adopts a claim handed down by a parent (a background run).
    """
    control = control or TrainingControl()
    try:
        config.validate()
    except ValueError as exc:
        raise TrainingRefused(str(exc)) from exc
    device = pick_device(config.device)  # the memory check needs to know the device
    arch, config = prepare(arch, config, store, name, resume, claimed=claim_fd is not None,
                           force=force or claim_fd is not None,  # a background run was checked in the foreground
                           gpu_memory=gpu_memory(device))
    torch.set_num_threads(config.threads or default_threads())  # 1 on a busy 2-core box: see core/threads.py
    session = _claim_session(store, name, resume, claim_fd, new_record(arch, config, str(device), exact))
    try:
        if resume:
            session.start_resume(config, str(device))
        return _Training(session, arch, config, device, exact, on_event, control).run(resume)
    finally:
        session.release()


class _Training:
    """One claimed run, as short named steps: set up, the epochs, the end."""

    def __init__(self, session: Session, arch: Architecture, config: TrainConfig, device: torch.device,
                 exact: bool, on_event: EventSink, control: TrainingControl) -> None:
        self.session, self.arch, self.config, self.device, self.exact = session, arch, config, device, exact
        self.control = control
        self.on_event = self._writing_progress(on_event)
        self.epochs_done = 0
        control.add_poller(self._take_commands)

    def _writing_progress(self, on_event: EventSink) -> EventSink:
        """Every event goes to the caller; progress also goes to progress.json for watchers."""
        def emit(event: Any) -> None:
            if isinstance(event, BatchProgress):
                try:
                    self.session.write_progress(asdict(event))
                except SessionError:
                    pass  # a watcher's view lags; the run itself is unharmed
            on_event(event)

        return emit

    def _take_commands(self, control: TrainingControl) -> None:
        """The control channel (watchers in other processes) and a lost terminal."""
        try:
            commands = self.session.take_commands()
        except SessionError:
            commands = []
        for command in commands:
            {"pause": control.pause, "resume": control.resume, "stop": control.stop}[command]()
        if control.terminal_lost.is_set():
            self.session.note_terminal_lost()

    def run(self, resume: bool) -> TrainingEnded:
        config = self.config
        try:
            run = self._set_up(resume)
            for epoch in range(run.start_epoch, config.epochs):
                metrics = _Epoch(run, epoch, config.epochs, self.on_event, self.control).run_epoch()
                if metrics is None:
                    return self._end(STOPPED, f"stopped during epoch {epoch}; resume continues from epoch {self.epochs_done}")
                self._finish_epoch(run, epoch, metrics)
                if self.control.stop_requested:
                    return self._end(STOPPED, f"stopped after epoch {epoch}; resume continues from epoch {self.epochs_done}")
            return self._end(FINISHED, None)
        except (DataError, SessionError) as exc:
            return self._end(FAILED, str(exc), user_error=True, problem=exc)
        except _LossDiverged as exc:
            too_high = SettingError(f"{exc}; the learning rate {config.lr:g} is probably too high", "lr",
                                    f"{config.lr / 10:g}")
            return self._end(FAILED, str(too_high), problem=too_high)
        except KeyboardInterrupt:
            self._end(STOPPED, "interrupted")
            raise
        except Exception as exc:  # recorded, never lost: the app and CLI show the reason
            if _is_out_of_memory(exc):
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                too_big = SettingError(f"{self.device.type} ran out of memory at batch size {config.batch_size}",
                                       "batch_size", max(1, config.batch_size // 2))
                return self._end(FAILED, str(too_big), problem=too_big)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return self._end(FAILED, f"{type(exc).__name__}: {first[:300]}")

    def _set_up(self, resume: bool) -> _Run:
        """Data on the device, the model, the optimizer; the checkpoint when resuming."""
        config, device, exact = self.config, self.device, self.exact
        tune_allocator()
        train_split, test_split = load_data(config)
        channels_last = not exact and device.type != "mps"
        torch.manual_seed(config.seed)  # the initial weights: the same seed, the same net
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = not exact
        model = build_model(self.arch, config.input)
        model = model.to(device, memory_format=torch.channels_last) if channels_last else model.to(device)
        run = _Run(
            session=self.session, config=config, model=model,
            optimizer=make_optimizer(model, config, exact), device=device,
            train=train_split.to(device), test=test_split.to(device),
            shuffle_gen=torch.Generator().manual_seed(config.seed),
            channels_last=channels_last, start_epoch=0,
            monitor=SystemMonitor(device.type, device.index, torch.get_num_threads()),
        )
        if resume and self.session.checkpoint_file.exists():
            checkpoint = self.session.load_checkpoint()
            _restore(run, checkpoint)
            run.start_epoch = checkpoint.epoch
        elif resume and self.session.epochs_done:
            raise SessionError(f"{self.session.checkpoint_file}: missing, but {self.session.session_file.name} "
                               f"says {self.session.epochs_done} epochs are done")
        self.session.truncate_metrics(run.start_epoch)  # epochs after the checkpoint are redone
        self.epochs_done = run.start_epoch
        self.session.set_epochs_done(run.start_epoch)
        started = TrainingStarted(
            session=self.session.name, device=str(device), device_name=device_name(device),
            start_epoch=run.start_epoch, epochs=config.epochs, train_samples=len(run.train),
            test_samples=len(run.test), batches_per_epoch=math.ceil(len(run.train) / config.batch_size),
            total_params=sum(p.numel() for p in model.parameters()),
        )
        self.session.set_started(asdict(started))
        self.on_event(started)
        return run

    def _finish_epoch(self, run: _Run, epoch: int, metrics: dict[str, Any]) -> None:
        """Metrics first (a crash now keeps the numbers), then the checkpoint, then the count."""
        if not math.isfinite(metrics["total_loss"]):
            raise _LossDiverged(f"loss became {metrics['total_loss']} in epoch {epoch}")
        self.session.append_metrics(metrics)
        self.session.save_checkpoint(_checkpoint(run, epoch + 1))
        self.epochs_done = epoch + 1
        self.session.set_epochs_done(self.epochs_done)
        self.on_event(EpochFinished(metrics))

    def _end(self, status: str, reason: str | None, user_error: bool = False,
             problem: Exception | None = None) -> TrainingEnded:
        """Record how the run ended (if the disk lets us) and tell the caller."""
        try:
            self._take_commands(self.control)  # a terminal lost at the very end is recorded too
            self.session.set_epochs_done(self.epochs_done)
            self.session.set_status(status, reason)
        except SessionError as exc:
            reason = f"{reason}; and the session could not record it: {exc}" if reason else str(exc)
            status = FAILED if status == FINISHED else status
            problem = None  # the reason says more than the problem now
        event = TrainingEnded(status, reason, self.epochs_done, user_error, problem)
        self.on_event(event)
        return event
