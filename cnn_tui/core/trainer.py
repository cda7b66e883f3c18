"""The headless training engine: data on the device, a fast loop, events out, sessions on disk.

`train()` is the whole run. It reports plain-data events (cnn_tui.core.events) to a callback
and obeys a TrainingControl from any thread; it knows nothing about Textual or the CLI.

The per-epoch numbers are the reference loop's: `total_loss` is the sum of the
per-batch mean losses and `total_correct` counts the predictions made *before* each step.
Two modes compute them:

- fast (default): channels-last convolutions, a fused Adam step, and max pooling moved in
  front of the ReLU before it (the same function); on the CPU, each convolution and the max
  pool after it run as one compiled kernel (convpool.py). Same data, same order, same
  scaling, same initial weights; only floating-point rounding differs.
- exact (`exact=True`, `cnn-tui train --exact`): plain NCHW tensors and torch's default
  Adam, which reproduces the reference loop bit for bit (same seed, same order).

On a GPU the fast mode also lets matrix products and convolutions use TF32. Mixed precision
(`config.amp`, `--amp bf16|fp16`) runs forward passes and losses under autocast, with float32
weights; fp16 scales the loss (GradScaler) so small gradients do not flush to zero.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import platform
import sys
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from ..words import SettingError
from .build import build_model, pool_before_activation
from .convpool import fuse_conv_pool, prepare_kernels
from .config import TrainConfig
from .data import DataError, Split, load_data, scale
from .device import device_name, gpu_memory, pick_device
from .distributed import AGREE_EVERY, COLLECTIVE_TIMEOUT, STATS_EVERY, Peers, World, lost_peer, threads_per_process
from .events import (
    FAILED,
    FINISHED,
    STOPPED,
    BatchProgress,
    EpochFinished,
    EpochStarted,
    EventSink,
    Terminated,
    TrainingControl,
    TrainingEnded,
    TrainingStarted,
)
from .prepare import TrainingRefused, check_more_epochs, prepare, refuse
from .sessions import Checkpoint, Session, SessionError, SessionRecord, SessionStore, new_record
from .spec import Architecture
from .system import SystemMonitor
from .threads import FreeCores, default_threads, usable_cores

PROGRESS_INTERVAL = 0.25  # seconds between BatchProgress events (≤ 4 per second)
PAUSE_NOTICED = 0.05  # a rank of a distributed run that waited this long was paused by rank 0
EVAL_BATCH = 1000  # test-set evaluation batch; no gradients, so bigger is cheaper
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, amp: str | None) -> contextlib.AbstractContextManager:
    """Where forward passes and losses run: under autocast to `amp`'s type, or as they are."""
    if amp is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[amp])


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

    session: Session | None  # None on the ranks of a distributed run that do not write it
    config: TrainConfig
    model: torch.nn.Module  # what trains: the network, or DDP around it
    net: torch.nn.Module  # the network itself (evaluated, saved)
    peers: Peers
    optimizer: torch.optim.Optimizer
    device: torch.device
    train: Split
    test: Split
    shuffle_gen: torch.Generator
    channels_last: bool
    start_epoch: int
    monitor: SystemMonitor
    scaler: torch.amp.GradScaler | None = None  # fp16 mixed precision's loss scale
    free_cores: FreeCores | None = None  # the thread count kept fitted to the machine, when nobody chose it


def training_model(arch: Architecture, input_shape: tuple[int, int, int] | None, device: torch.device,
                   exact: bool) -> torch.nn.Module:
    """The network as the trainer runs it: in the fast mode, pools moved before their ReLUs,
    on the CPU each conv and its max pool fused, and channels-last (not on MPS)."""
    net = build_model(arch, input_shape)
    if exact:
        return net.to(device)
    pool_before_activation(net)  # the same function and gradients; ReLU on a quarter of the values
    if device.type == "cpu":
        fuse_conv_pool(net)  # each conv and its max pool as one kernel, backward at the maxima only
    return net.to(device, memory_format=torch.channels_last) if uses_channels_last(device, exact) else net.to(device)


def uses_channels_last(device: torch.device, exact: bool) -> bool:
    return not exact and device.type != "mps"


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
    assert run.session is not None
    return Checkpoint(model=run.net.state_dict(), optimizer=run.optimizer.state_dict(), epoch=epochs_done,
                      rng=rng, architecture=run.session.record.architecture,
                      scaler=run.scaler.state_dict() if run.scaler is not None else None)


def _restore(run: _Run, checkpoint: Checkpoint) -> None:
    try:
        run.net.load_state_dict(checkpoint.model)
        run.optimizer.load_state_dict(checkpoint.optimizer)
        torch.set_rng_state(checkpoint.rng["torch"])
        run.shuffle_gen.set_state(checkpoint.rng["shuffle"])
        if run.device.type == "cuda" and "cuda" in checkpoint.rng:
            torch.cuda.set_rng_state_all(checkpoint.rng["cuda"])
        if run.scaler is not None and checkpoint.scaler:
            run.scaler.load_state_dict(checkpoint.scaler)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise SessionError(f"checkpoint.pt: does not fit this session's model ({str(exc).splitlines()[0][:160]})") from None


class Evaluation(NamedTuple):
    """A split evaluated: summed cross-entropy, correct count, and the confusion matrix
    (rows: true class, columns: predicted class; counts)."""

    loss: float
    correct: int
    confusion: list[list[int]]


def evaluate(model: torch.nn.Module, split: Split, channels_last: bool,
             peers: Peers | None = None, *, classes: int, amp: str | None = None) -> Evaluation:
    """Loss, correct count and confusion matrix over a split, under eval() and no_grad()
    (and autocast to `amp`'s type, as the run trains). With `peers`, each rank evaluates its
    share of the split and the sums are added.

    Everything is summed on the device and copied to the host once, at the end: the matrix
    is a bincount of `true * classes + predicted` per batch, added into one flat tensor."""
    model.eval()
    device = split.images.device
    lo, hi = peers.share(0, len(split)) if peers is not None else (0, len(split))
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    confusion = torch.zeros(classes * classes, dtype=torch.int64, device=device)  # (true * classes + predicted,)
    with torch.no_grad(), autocast(device, amp):
        for start in range(lo, hi, EVAL_BATCH):
            end = min(hi, start + EVAL_BATCH)
            x = scale(split.images[start:end])  # (B, C, H, W)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = split.labels[start:end]
            preds = model(x)  # (B, classes)
            predicted = preds.argmax(dim=1)  # (B,)
            total_loss += F.cross_entropy(preds, y, reduction="sum").double()
            correct += predicted.eq(y).sum()
            confusion += torch.bincount(y * classes + predicted, minlength=classes * classes)
    model.train()
    # One tensor, so that a distributed run adds every rank's sums in one all-reduce. Counts
    # are exact in float64 (up to 2**53).
    sums = torch.cat([total_loss.view(1), correct.double().view(1), confusion.double()])
    if peers is not None:
        peers.sum(sums)
    values = sums.tolist()  # the one host copy
    matrix = [[int(n) for n in values[2 + row * classes: 2 + (row + 1) * classes]] for row in range(classes)]
    return Evaluation(values[0], int(values[1]), matrix)


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
        self.batch_losses = torch.zeros(self.batches, dtype=torch.float32, device=run.device)  # each batch's share
        self.reported = 0  # batches whose losses a BatchProgress has carried
        self.progress = BatchProgress(epoch=epoch, batch=0, batches=self.batches, samples=0,
                                      images_per_second=0.0, eta_seconds=0.0, mean_loss=0.0, epochs=epochs)
        self.start = self.last_report = 0.0
        self.forward_seconds, self.forward_samples = 0.0, 0
        self.threads_used: dict[int, int] = {}  # thread count: batches trained with it

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
            if self._stop_before(batch):
                return None
            threads = run.free_cores.poll() if run.free_cores is not None else torch.get_num_threads()
            self.threads_used[threads] = self.threads_used.get(threads, 0) + 1
            images, labels, end = self._batch(batch, order)
            self._train_step(batch, images, labels, end - batch * run.config.batch_size)
            self._report(batch, end)
            if run.peers.world.distributed and batch % STATS_EVERY == 0:
                run.peers.exchange_stats(self._rank_stats())
        return self._metrics(time.perf_counter() - self.start)

    def _stop_before(self, batch: int) -> bool:
        """Wait here while paused; whether to stop before this batch. The ranks of a
        distributed run decide together, every AGREE_EVERY batches, on rank 0's word
        (`Peers.agree`). Paused time is not training time."""
        distributed = self.run.peers.world.distributed
        if distributed and batch % AGREE_EVERY:
            return False
        if not distributed and not self.control.paused:
            return self.control.stop_requested
        paused_at = time.perf_counter()
        was_paused = self.control.paused
        if was_paused:  # acknowledged
            self.on_event(replace(self.progress, state="paused", system=self._system(), batch_losses=()))
        if distributed:
            stop = self.run.peers.agree(self.control)
        else:
            self.control.wait_while_paused()
            stop = self.control.stop_requested
        held = time.perf_counter() - paused_at
        if was_paused or held > PAUSE_NOTICED:
            self.start += held
            self.on_event(replace(self.progress, state=self.control.state, system=self._system(), batch_losses=()))
        return stop

    def _batch(self, batch: int, order: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, int]:
        """This process's images (B, C, H, W, float in [0, 1]) and labels of the batch (all
        of it, or its rank's share), and where the whole batch ends."""
        run, size = self.run, self.run.config.batch_size
        lo, hi = batch * size, min(self.samples, (batch + 1) * size)
        start, end = run.peers.share(lo, hi)
        if order is None:
            images, labels = run.train.images[start:end], run.train.labels[start:end]
        else:
            index = order[start:end]
            images, labels = run.train.images[index], run.train.labels[index]
        x = scale(images)
        if run.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, labels, hi

    def _train_step(self, batch: int, x: torch.Tensor, labels: torch.Tensor, batch_size: int) -> None:
        """Forward, backward, step; the batch's mean loss and correct count (made before the
        step, as the reference loop counts them) are added on the device.

        A rank holding part of a batch sums its losses and divides by the whole batch's
        size: that is its share of the batch's mean loss. DDP averages the gradients over
        the W ranks, so the loss is scaled by W first, and the step is the one-process step."""
        run = self.run
        world = run.peers.world.size
        with autocast(run.device, run.config.amp):  # the losses come out in float32 either way
            started = time.perf_counter()
            preds = run.model(x)  # (B, classes)
            self.forward_seconds += time.perf_counter() - started
            self.forward_samples += len(labels)
            if world == 1:
                loss = share = F.cross_entropy(preds, labels)
            else:
                share = F.cross_entropy(preds, labels, reduction="sum") / batch_size
                loss = share * world
        run.optimizer.zero_grad()
        if run.scaler is None:
            loss.backward()
            run.optimizer.step()
        else:  # steps whose scaled gradients overflowed are skipped, and the scale lowered
            run.scaler.scale(loss).backward()
            run.scaler.step(run.optimizer)
            run.scaler.update()
        share = share.detach()
        self.total_loss += share.double()
        self.batch_losses[batch] = share
        self.total_correct += preds.detach().argmax(dim=1).eq(labels).sum()

    def _system(self) -> dict[str, Any]:
        """What the machine is doing, and in a distributed run each rank's line."""
        system = self.run.monitor.sample()
        if self.run.peers.rank_stats:
            system["ranks"] = self.run.peers.rank_stats
        return system

    def _rank_stats(self) -> dict[str, Any]:
        """This rank's line in the system panel: where it runs, its forward passes' speed
        (no collective waits in it, so a slow rank shows as the slow one; on a GPU the
        launches are asynchronous and this is left out), and its memory."""
        system = self.run.monitor.sample()
        memory = system["cuda"]["allocated"] if "cuda" in system else system.get("rss_bytes")
        speed = self.forward_samples / self.forward_seconds if self.forward_seconds and self.run.device.type == "cpu" else None
        return {"device": str(self.run.device), "forward_images_per_second": speed, "memory_bytes": memory}

    def _report(self, batch: int, samples_done: int) -> None:
        """A BatchProgress at most every PROGRESS_INTERVAL, and after the last batch."""
        now = time.perf_counter()
        if now - self.last_report < PROGRESS_INTERVAL and batch != self.batches - 1:
            return
        self.last_report = now
        # The one host sync, a few times a second. A rank of a distributed run knows only its
        # share of the loss so far: times the world size, that estimates the whole.
        loss_so_far = float(self.total_loss) * self.run.peers.world.size
        if not math.isfinite(loss_so_far):
            raise _LossDiverged(f"loss became {loss_so_far} in epoch {self.epoch} "
                                f"(by batch {batch + 1} of {self.batches})")
        elapsed = max(now - self.start, 1e-9)
        system = self._system()
        world = self.run.peers.world.size
        losses = tuple(v * world for v in self.batch_losses[self.reported:batch + 1].tolist())
        first, self.reported = self.reported, batch + 1
        self.progress = BatchProgress(
            epoch=self.epoch, batch=batch + 1, batches=self.batches, samples=samples_done,
            images_per_second=samples_done / elapsed,
            eta_seconds=elapsed / (batch + 1) * (self.batches - batch - 1),
            mean_loss=loss_so_far / (batch + 1),
            gpu_memory_bytes=system["cuda"]["allocated"] if "cuda" in system else None,
            state=self.control.state, epochs=self.epochs, system=system,
            batch_losses=losses, first_batch=first,
        )
        self.on_event(self.progress)

    def _metrics(self, seconds: float) -> dict[str, Any]:
        """The epoch's metrics.jsonl row, the test set evaluated."""
        run, n = self.run, self.samples
        sums = run.peers.sum(torch.stack([self.total_loss, self.total_correct.double()]))
        batch_losses = run.peers.sum(self.batch_losses.double())  # the ranks' shares make each batch's mean
        test_loss, test_correct, confusion = evaluate(run.net, run.test, run.channels_last, run.peers,
                                                      classes=run.config.classes, amp=run.config.amp)
        correct = int(sums[1])
        return {
            "epoch": self.epoch,
            "total_loss": float(sums[0]),
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
            "threads": max(self.threads_used, key=self.threads_used.__getitem__, default=torch.get_num_threads()),
            "confusion": confusion,  # rows: true class, columns: predicted class (cnn_tui.core.confusion)
            "batch_losses": [round(v, 6) for v in batch_losses.tolist()],  # each batch's mean loss, in order
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

    Under torchrun (several processes), every process calls this: rank 0 does all of the
    above and hands the others what to train; they train their share and write nothing.
    """
    control = control or TrainingControl()
    world = World.from_env()
    try:
        config.validate()
    except ValueError as exc:
        raise TrainingRefused(str(exc)) from exc
    if exact and world.distributed:
        raise refuse("{exact} reproduces one process bit for bit; train with one process, or leave it out")
    device = pick_device(config.device, world.local_rank if world.distributed else None)
    peers = Peers(world)
    peers.join(device.type)
    try:
        if not world.leader:
            arch, config = _what_rank_zero_trains(peers)
            torch.set_num_threads(_threads(config, world))
            return _Training(None, arch, config, device, exact, lambda event: None, control, peers).run(resume)
        try:
            arch, config = prepare(arch, config, store, name, resume, claimed=claim_fd is not None,
                                   force=force or claim_fd is not None,  # checked by the process that launched this one
                                   gpu_memory=gpu_memory(device), exact=exact)
            session = _claim_session(store, name, resume, claim_fd, new_record(arch, config, str(device), exact))
        except TrainingRefused as exc:
            peers.broadcast(("refused", str(exc)))
            raise
        peers.broadcast(("train", arch.to_dict(), config.to_json()))
        torch.set_num_threads(_threads(config, world))
        try:
            if resume:
                session.start_resume(config, str(device))
            return _Training(session, arch, config, device, exact, on_event, control, peers).run(resume)
        finally:
            session.release()
    finally:
        peers.leave()


def _threads(config: TrainConfig, world: World) -> int:
    """torch's CPU threads: as asked, else the free cores (1 on a busy 2-core box, see
    core/threads.py), else, for one of several processes on this machine, its share of them."""
    if config.threads:
        return config.threads
    return threads_per_process() if world.distributed else default_threads()


def _what_rank_zero_trains(peers: Peers) -> tuple[Architecture, TrainConfig]:
    """A rank other than 0 learns the run from rank 0, or that rank 0 refused it."""
    what = peers.broadcast(None)
    if what[0] == "refused":
        raise TrainingRefused(what[1])
    return Architecture.from_dict(what[1]), TrainConfig.from_json(what[2])


class _Training:
    """One claimed run, as short named steps: set up, the epochs, the end. `session` is None
    on the ranks of a distributed run that only train (rank 0 writes)."""

    def __init__(self, session: Session | None, arch: Architecture, config: TrainConfig, device: torch.device,
                 exact: bool, on_event: EventSink, control: TrainingControl, peers: Peers) -> None:
        self.session, self.arch, self.config, self.device, self.exact = session, arch, config, device, exact
        self.control, self.peers = control, peers
        self.on_event = self._writing_progress(on_event)
        self.epochs_done = 0
        if session is not None:
            control.add_poller(self._take_commands)

    def _writing_progress(self, on_event: EventSink) -> EventSink:
        """Every event goes to the caller; progress also goes to progress.json for watchers."""
        def emit(event: Any) -> None:
            if isinstance(event, BatchProgress) and self.session is not None:
                try:
                    self.session.write_progress(asdict(event))
                except SessionError:
                    pass  # a watcher's view lags; the run itself is unharmed
            on_event(event)

        return emit

    def _take_commands(self, control: TrainingControl) -> None:
        """The control channel (watchers in other processes) and a lost terminal."""
        assert self.session is not None
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
                if self._stop_after_epoch():
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
        except Terminated:
            return self._end(FAILED, "terminated (SIGTERM): the run was killed, or another process of a "
                                     "distributed run failed; resume continues from epoch "
                                     f"{self.epochs_done}")
        except Exception as exc:  # recorded, never lost: the app and CLI show the reason
            if _is_out_of_memory(exc):
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                too_big = SettingError(f"{self.device.type} ran out of memory at batch size {config.batch_size}",
                                       "batch_size", max(1, config.batch_size // 2))
                return self._end(FAILED, str(too_big), problem=too_big)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            said = lost_peer(exc) if self.peers.world.distributed else None
            if said is not None:
                return self._end(FAILED, f"lost contact with another process of the distributed run: it died, "
                                         f"or hung past {COLLECTIVE_TIMEOUT.seconds} s ({said}); "
                                         f"resume continues from epoch {self.epochs_done}")
            return self._end(FAILED, f"{type(exc).__name__}: {first[:300]}")

    def _stop_after_epoch(self) -> bool:
        """Was a stop asked for (in a distributed run: by rank 0, all ranks agreeing)?"""
        if self.peers.world.distributed:
            return self.peers.agree(self.control)
        return self.control.stop_requested

    def _set_up(self, resume: bool) -> _Run:
        """Data on the device, the model, the optimizer; the checkpoint when resuming."""
        config, device, exact = self.config, self.device, self.exact
        tune_allocator()
        train_split, test_split = load_data(config)
        channels_last = uses_channels_last(device, exact)
        torch.manual_seed(config.seed)  # the initial weights: the same seed, the same net
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = not exact
            # TF32: float32 products at tensor-core speed, 10-bit mantissas (Ampere and later)
            torch.backends.cuda.matmul.allow_tf32 = not exact
            torch.backends.cudnn.allow_tf32 = not exact
        net = training_model(self.arch, config.input, device, exact)
        run = _Run(
            session=self.session, config=config, model=net, net=net, peers=self.peers,
            optimizer=make_optimizer(net, config, exact), device=device,
            train=train_split.to(device), test=test_split.to(device),
            shuffle_gen=torch.Generator().manual_seed(config.seed),
            channels_last=channels_last, start_epoch=0,
            monitor=SystemMonitor(device.type, device.index, torch.get_num_threads()),
            scaler=torch.amp.GradScaler(device.type) if config.amp == "fp16" else None,
        )
        run.free_cores = self._free_cores(run.monitor)
        run.monitor.kernels_off = prepare_kernels(net, scale(run.train.images[:1]))  # fused layers' kernels compiled
        checkpoint = self.peers.broadcast(self._checkpoint_to_resume() if resume else None)
        if checkpoint is not None:
            _restore(run, checkpoint)
            run.start_epoch = checkpoint.epoch
        if self.peers.world.distributed:
            from torch.nn.parallel import DistributedDataParallel

            run.model = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
        self.epochs_done = run.start_epoch
        if self.session is not None:
            self._record_start(run)
        return run

    def _free_cores(self, monitor: SystemMonitor) -> FreeCores | None:
        """Threads refitted to the machine while training: on a CPU, when nobody chose the
        count. Not for `--exact` (the thread count changes the rounding of the sums inside a
        convolution, and an exact run is meant to be repeated) nor for the processes of
        a distributed run (each has its share of the cores)."""
        cores = usable_cores()
        if self.config.threads or self.exact or self.peers.world.distributed or self.device.type != "cpu" or cores < 2:
            return None

        def apply(threads: int) -> None:
            torch.set_num_threads(threads)
            monitor.threads = threads  # the system panel shows it

        return FreeCores(torch.get_num_threads(), cores, apply)

    def _checkpoint_to_resume(self) -> Checkpoint | None:
        """Rank 0 reads it (the others get it from rank 0)."""
        if self.session is None:
            return None
        if self.session.checkpoint_file.exists():
            return self.session.load_checkpoint()
        if self.session.epochs_done:
            raise SessionError(f"{self.session.checkpoint_file}: missing, but {self.session.session_file.name} "
                               f"says {self.session.epochs_done} epochs are done")
        return None

    def _record_start(self, run: _Run) -> None:
        """Epochs after the checkpoint are redone; watchers learn what the run is."""
        assert self.session is not None
        config, device = self.config, self.device
        self.session.truncate_metrics(run.start_epoch)
        self.session.set_epochs_done(run.start_epoch)
        self.session.set_distributed(self.peers.describe())
        started = TrainingStarted(
            session=self.session.name, device=str(device), device_name=device_name(device),
            start_epoch=run.start_epoch, epochs=config.epochs, train_samples=len(run.train),
            test_samples=len(run.test), batches_per_epoch=math.ceil(len(run.train) / config.batch_size),
            total_params=sum(p.numel() for p in run.net.parameters()),
        )
        self.session.set_started(asdict(started))
        self.on_event(started)

    def _finish_epoch(self, run: _Run, epoch: int, metrics: dict[str, Any]) -> None:
        """Metrics first (a crash now keeps the numbers), then the checkpoint, then the count."""
        if not math.isfinite(metrics["total_loss"]):
            raise _LossDiverged(f"loss became {metrics['total_loss']} in epoch {epoch}")
        self.epochs_done = epoch + 1
        if self.session is None:
            return
        self.session.append_metrics(metrics)
        self.session.save_checkpoint(_checkpoint(run, epoch + 1))
        self.session.set_epochs_done(self.epochs_done)
        self.on_event(EpochFinished(metrics))

    def _end(self, status: str, reason: str | None, user_error: bool = False,
             problem: Exception | None = None) -> TrainingEnded:
        """Record how the run ended (if the disk lets us) and tell the caller."""
        self.control.ending.set()
        if self.session is None:
            return TrainingEnded(status, reason, self.epochs_done, user_error, problem)
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
