"""The headless training engine: data on the device, a fast loop, events out, sessions on disk.

`train()` is the whole run. It reports plain-data events (cnn_tui.core.events) to a callback
and obeys a TrainingControl from any thread; it knows nothing about Textual or the CLI.

The per-epoch numbers are the reference loop's (SPEC §1): `total_loss` is the sum of the
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
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

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
from .sessions import Session, SessionError, SessionStore, session_meta
from .resources import check_training_memory
from .shapes import check_classes, infer_shapes
from .spec import Architecture

PROGRESS_INTERVAL = 0.25  # seconds between BatchProgress events (≤ 4 per second)
EVAL_BATCH = 1000  # test-set evaluation batch; no gradients, so bigger is cheaper


class TrainingRefused(Exception):
    """The run cannot start: a bad architecture, option or session. Nothing was written."""


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


def pick_device(wanted: str) -> torch.device:
    """`auto` is CUDA, else MPS, else CPU; an explicit device that is missing is refused."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if wanted == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if wanted == "cuda" and not cuda:
        raise TrainingRefused("--device cuda: no CUDA GPU is visible to torch here; use --device auto or cpu")
    if wanted == "mps" and not mps:
        raise TrainingRefused("--device mps: Apple's MPS is not available here; use --device auto or cpu")
    return torch.device(wanted)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({torch.get_num_threads()} threads)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


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


def make_optimizer(model: torch.nn.Module, config: TrainConfig, exact: bool) -> torch.optim.Optimizer:
    params = model.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)
    if exact:
        return torch.optim.Adam(params, lr=config.lr)  # torch's default: the reference's
    return torch.optim.Adam(params, lr=config.lr, fused=True)


def _checkpoint_state(run: _Run, epochs_done: int) -> dict[str, Any]:
    rng: dict[str, Any] = {"torch": torch.get_rng_state(), "shuffle": run.shuffle_gen.get_state()}
    if run.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "epoch": epochs_done,
        "rng": rng,
        "architecture": run.session.meta["architecture"],  # a checkpoint alone rebuilds the model
    }


def _restore(run: _Run, state: dict[str, Any]) -> None:
    try:
        run.model.load_state_dict(state["model"])
        run.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"]["torch"])
        run.shuffle_gen.set_state(state["rng"]["shuffle"])
        if run.device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
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


def _run_epoch(run: _Run, epoch: int, epochs: int, on_event: EventSink, control: TrainingControl) -> dict[str, Any] | None:
    """One pass over the training set; the metrics row, or None when stopped mid-epoch."""
    config, device = run.config, run.device
    n = len(run.train)
    batches = math.ceil(n / config.batch_size)
    on_event(EpochStarted(epoch, epochs, batches))
    # The permutation comes from the run's own generator, whose state the checkpoint keeps.
    order = torch.randperm(n, generator=run.shuffle_gen).to(device) if config.shuffle else None
    # Accumulated on the device: no host sync per batch (it would stall a GPU).
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    total_correct = torch.zeros((), dtype=torch.int64, device=device)
    start = last_report = time.perf_counter()
    for batch in range(batches):
        if control.paused:
            paused_at = time.perf_counter()
            control.wait_while_paused()
            start += time.perf_counter() - paused_at  # paused time is not training time
        if control.stop_requested:
            return None
        lo, hi = batch * config.batch_size, min(n, (batch + 1) * config.batch_size)
        if order is None:
            images, labels = run.train.images[lo:hi], run.train.labels[lo:hi]
        else:
            index = order[lo:hi]
            images, labels = run.train.images[index], run.train.labels[index]
        x = scale(images)  # (B, C, H, W) float32 in [0, 1]
        if run.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        preds = run.model(x)  # (B, classes)
        loss = F.cross_entropy(preds, labels)
        run.optimizer.zero_grad()
        loss.backward()
        run.optimizer.step()
        total_loss += loss.detach().double()
        total_correct += preds.detach().argmax(dim=1).eq(labels).sum()
        now = time.perf_counter()
        if now - last_report >= PROGRESS_INTERVAL or batch == batches - 1:
            last_report = now
            loss_so_far = float(total_loss)  # the one host sync, a few times a second
            if not math.isfinite(loss_so_far):
                raise _LossDiverged(f"loss became {loss_so_far} in epoch {epoch} (by batch {batch + 1} of {batches})")
            elapsed = max(now - start, 1e-9)
            on_event(BatchProgress(
                epoch=epoch, batch=batch + 1, batches=batches, samples=hi,
                images_per_second=hi / elapsed,
                eta_seconds=elapsed / (batch + 1) * (batches - batch - 1),
                mean_loss=loss_so_far / (batch + 1),
                gpu_memory_bytes=torch.cuda.memory_allocated(device) if device.type == "cuda" else None,
            ))
    seconds = time.perf_counter() - start
    test_loss, test_correct = evaluate(run.model, run.test, run.channels_last)
    correct = int(total_correct)
    return {
        "epoch": epoch,
        "total_loss": float(total_loss),
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
        "batches": batches,
    }


# What allocators say when memory runs out: CUDA, and the CPU's ("DefaultCPUAllocator:
# can't allocate memory: you tried to allocate ...", "Cannot allocate memory").
_OUT_OF_MEMORY = ("out of memory", "can't allocate memory", "cannot allocate memory", "not enough memory")


def _is_out_of_memory(exc: BaseException) -> bool:
    oom = getattr(torch.cuda, "OutOfMemoryError", ())
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or (bool(oom) and isinstance(exc, oom)) or any(s in text for s in _OUT_OF_MEMORY)


def prepare(
    arch: Architecture | None,
    config: TrainConfig,
    store: SessionStore,
    name: str | None = None,
    resume: bool = False,
    force: bool = False,
) -> tuple[Architecture, TrainConfig, Session | None]:
    """Check everything that can be checked before any file is written.

    Returns the architecture and configuration to train with (from the session when
    resuming, with the new epoch target) and the session to resume, if any.
    Raises TrainingRefused with one clear line.
    """
    try:
        config.validate()
    except ValueError as exc:
        raise TrainingRefused(str(exc)) from None
    session = None
    try:
        if resume:
            if not name:
                raise TrainingRefused("--resume needs --session NAME (see cnn-tui sessions)")
            session = store.open(name)
            if session.status == "running":
                raise TrainingRefused(f"session {name!r} is being trained by process {session.meta.get('pid')}; stop it first")
            stored = Architecture.from_dict(session.meta["architecture"])
            if arch is not None and arch.layers != stored.layers:
                raise TrainingRefused(f"session {name!r} has its own architecture; --resume trains that one (leave out ARCH.json)")
            arch = stored
            config = TrainConfig.from_json({**session.meta["config"], "epochs": config.epochs, "device": config.device})
            done = int(session.meta.get("epochs_done") or 0)
            if done >= config.epochs:
                raise TrainingRefused(f"session {name!r} already has {done} epochs; ask for more with --epochs {done + 5}")
        elif name is not None and store.exists(name):
            raise TrainingRefused(f"session {name!r} already exists in {store.root}; add --resume to continue it, or pick another name")
        elif name is not None:
            store.path(name)  # validates the name
    except SessionError as exc:
        raise TrainingRefused(str(exc)) from None
    if arch is None:
        raise TrainingRefused("no architecture given")
    try:
        config = config.for_architecture(arch)
    except ValueError as exc:
        raise TrainingRefused(str(exc)) from None
    summary = infer_shapes(arch, config.input)
    problem = check_classes(summary, config.classes, config.dataset)
    if problem is not None:
        raise TrainingRefused(str(problem))
    cuda = config.device in ("auto", "cuda") and torch.cuda.is_available()
    memory = None if force else check_training_memory(  # --force: the person knows better
        [info.output_shape for info in summary.layers], summary.total_params, config,
        torch.cuda.get_device_properties(0).total_memory if cuda else None)
    if memory is not None:
        raise TrainingRefused(memory)
    return arch, config, session


def train(
    arch: Architecture | None,
    config: TrainConfig,
    store: SessionStore,
    name: str | None = None,
    resume: bool = False,
    on_event: EventSink = lambda event: None,
    control: TrainingControl | None = None,
    exact: bool = False,
    force: bool = False,
) -> TrainingEnded:
    """Train, writing the session as it goes. Returns (and emits) how the run ended.

    Raises TrainingRefused before anything is written when the run cannot start. Once the
    session exists, every failure (missing data, NaN, out of memory, a bug) is recorded in
    session.json and returned as TrainingEnded(FAILED, reason).
    """
    control = control or TrainingControl()
    arch, config, session = prepare(arch, config, store, name, resume, force)
    device = pick_device(config.device)
    if session is None:
        session = store.create(name or store.new_name(), session_meta(arch, config, str(device), exact))
    else:
        session.update(config=config.to_json(), device=str(device))
        session.set_status("running")

    def end(status: str, reason: str | None, epochs_done: int, user_error: bool = False) -> TrainingEnded:
        session.update(epochs_done=epochs_done)
        session.set_status(status, reason)
        event = TrainingEnded(status, reason, epochs_done, user_error)
        on_event(event)
        return event

    epochs_done = 0
    try:
        tune_allocator()
        train_split, test_split = load_data(config)
        channels_last = not exact and device.type != "mps"
        torch.manual_seed(config.seed)  # the initial weights: the same seed, the same net
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = not exact
        model = build_model(arch, config.input)
        model = model.to(device, memory_format=torch.channels_last) if channels_last else model.to(device)
        run = _Run(
            session=session, config=config, model=model,
            optimizer=make_optimizer(model, config, exact), device=device,
            train=train_split.to(device), test=test_split.to(device),
            shuffle_gen=torch.Generator().manual_seed(config.seed),
            channels_last=channels_last, start_epoch=0,
        )
        if resume and session.checkpoint_file.exists():
            state = session.load_checkpoint()
            _restore(run, state)
            run.start_epoch = int(state["epoch"])
        session.truncate_metrics(run.start_epoch)  # epochs after the checkpoint are redone
        epochs_done = run.start_epoch
        on_event(TrainingStarted(
            session=session.name, device=str(device), device_name=device_name(device),
            start_epoch=run.start_epoch, epochs=config.epochs, train_samples=len(run.train),
            test_samples=len(run.test), batches_per_epoch=math.ceil(len(run.train) / config.batch_size),
            total_params=sum(p.numel() for p in model.parameters()),
        ))
        for epoch in range(run.start_epoch, config.epochs):
            metrics = _run_epoch(run, epoch, config.epochs, on_event, control)
            if metrics is None:
                return end(STOPPED, f"stopped during epoch {epoch}; resume continues from epoch {epochs_done}", epochs_done)
            if not math.isfinite(metrics["total_loss"]):
                raise _LossDiverged(f"loss became {metrics['total_loss']} in epoch {epoch}")
            session.append_metrics(metrics)  # first: a crash now keeps the epoch's numbers
            session.save_checkpoint(_checkpoint_state(run, epoch + 1))
            epochs_done = epoch + 1
            session.update(epochs_done=epochs_done)
            on_event(EpochFinished(metrics))
            if control.stop_requested:
                return end(STOPPED, f"stopped after epoch {epoch}; resume continues from epoch {epochs_done}", epochs_done)
        return end(FINISHED, None, epochs_done)
    except DataError as exc:
        return end(FAILED, str(exc), epochs_done, user_error=True)
    except SessionError as exc:
        return end(FAILED, str(exc), epochs_done, user_error=True)
    except _LossDiverged as exc:
        return end(FAILED, f"{exc}; the learning rate {config.lr:g} is probably too high: try --lr {config.lr / 10:g}", epochs_done)
    except KeyboardInterrupt:
        end(STOPPED, "interrupted", epochs_done)
        raise
    except Exception as exc:  # recorded, never lost: the app and CLI show the reason
        if _is_out_of_memory(exc):
            if device.type == "cuda":
                torch.cuda.empty_cache()
            return end(FAILED, f"{device.type} ran out of memory at batch size {config.batch_size}; try --batch-size {max(1, config.batch_size // 2)}", epochs_done)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return end(FAILED, f"{type(exc).__name__}: {first[:300]}", epochs_done)
