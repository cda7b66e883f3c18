"""Data-parallel training with torch.distributed: the ranks of one run, and how they agree.

A distributed run is launched by torchrun (`cnn-tui train --nproc-per-node N` builds the
command, see `torchrun_command`). Every process runs the same `train()`; `Peers` is what
they share:

- Rank 0 alone checks the run, claims and writes the session, and emits events; it hands
  the others what they train (architecture, configuration, checkpoint) with one broadcast.
- `--batch-size` stays the global batch: each rank takes a contiguous share of every
  global batch (`shard`), sums its losses and divides by the global batch size, times the
  world size; DDP averages the gradients over the ranks, so each step is the step one
  process would take on the whole batch, up to floating-point rounding.
- Every few batches the ranks agree on stop and pause (rank 0 decides: it reads the
  session's control channel), so a stop or a pause from a watcher reaches every rank at
  the same batch.
- The epoch's sums are added over the ranks.

Only `World.from_env` and `torchrun_command` run without torch; everything else imports
it. With one process, `Peers` does nothing and costs nothing.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..words import SettingError

if TYPE_CHECKING:
    import torch

    from .events import TrainingControl

# A collective that waits longer than this for a rank means the rank is gone: the run ends
# with a reason instead of hanging. Every collective here follows at most one batch (or one
# evaluation shard) of work, and a paused run exchanges a message every PAUSE_BEAT seconds.
COLLECTIVE_TIMEOUT = timedelta(seconds=120)
LEAVE_TIMEOUT = timedelta(seconds=30)  # how long a rank waits for the others at the end
PAUSE_BEAT = 1.0
AGREE_EVERY = 8  # batches between the ranks' agreements on stop and pause (~1 ms each on a CPU)
STATS_EVERY = 25  # batches between exchanges of each rank's speed and memory
JOIN_TIMEOUT = 120  # seconds the machines of a several-machine run wait for each other at the start


@dataclass(frozen=True)
class World:
    """This process's place in the run, as torchrun describes it in the environment."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> "World":
        try:
            return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                       int(os.environ.get("LOCAL_RANK", 0)))
        except ValueError:
            return cls()

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def leader(self) -> bool:
        """Rank 0: the one that writes the session and talks to the person."""
        return self.rank == 0


def threads_per_process_for(processes: int) -> int:
    """CPU threads for each of `processes` processes on this machine: an equal share of the
    usable cores (two processes each spinning two threads on two cores run many times
    slower than one thread each)."""
    from .threads import usable_cores

    return max(1, usable_cores() // max(1, processes))


def threads_per_process() -> int:
    """`threads_per_process_for` the processes torchrun started on this machine."""
    try:
        local = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    except ValueError:
        local = 1
    return threads_per_process_for(local)


def shard(lo: int, hi: int, rank: int, size: int) -> tuple[int, int]:
    """Rank `rank`'s contiguous share of [lo, hi): the first (hi - lo) % size ranks take one
    more sample than the others, so shares differ by at most one."""
    n = hi - lo
    base, extra = divmod(n, size)
    start = lo + rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def split_note(batch_size: int, size: int) -> str | None:
    """How a global batch that does not divide evenly is split, in words (None: it does)."""
    base, extra = divmod(batch_size, size)
    if not extra:
        return None
    return (f"each batch of {batch_size} is split over {size} processes as {extra}×{base + 1} "
            f"and {size - extra}×{base} images")


def torchrun_command(train_args: list[str], processes: int, nodes: int = 1, node_rank: int = 0,
                     rdzv_endpoint: str | None = None) -> list[str]:
    """`python -m torch.distributed.run ... -m cnn_tui train ARGS`: one process per GPU (or
    per `processes` on the CPU), rank 0's output only on the console."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes),
               "--max-restarts", "0", "--local-ranks-filter", "0"]
    if nodes == 1 and rdzv_endpoint is None:
        command.append("--standalone")  # a rendezvous on a free local port
    else:
        # A static rendezvous: global rank = node rank × processes + local rank, so rank 0 is
        # always on node rank 0, the machine that checked the run and holds the session.
        command += ["--nnodes", str(nodes), "--node-rank", str(node_rank), "--rdzv-backend", "static",
                    "--rdzv-endpoint", rdzv_endpoint or "localhost:29400", "--rdzv-conf", f"timeout={JOIN_TIMEOUT}"]
    return command + ["-m", "cnn_tui", "train", *train_args]


# What gloo and NCCL say when a collective's other side is gone or silent.
_LOST_PEER = ("connection reset", "connection closed", "connection refused", "timed out", "timeout",
              "broken pipe", "socket closed", "nccl communicator was aborted")


def lost_peer(exc: BaseException) -> str | None:
    """When a collective failed because another rank died or hung: what the backend said,
    in a few words ("Read error [127.0.0.1]:8072: Connection reset by peer"); else None."""
    text = str(exc)
    if type(exc).__name__ != "DistBackendError" and not any(words in text.lower() for words in _LOST_PEER):
        return None
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    first = re.sub(r"^\[[^\]]*\]\s*", "", first)  # the backend's source file and line
    return first.split(". ")[0][:160]


class Peers:
    """The other processes of a distributed run, seen from this one."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.backend = ""
        self.hosts: list[str] = [socket.gethostname()]
        self.rank_stats: list[dict[str, Any]] = []
        self._control_group: Any = None

    # --- setting up ----------------------------------------------------------------------

    def join(self, device_type: str) -> None:
        """Join the process group: NCCL between GPUs, gloo on the CPU. Control messages
        always go over gloo, so they never wait on a GPU."""
        if not self.world.distributed:
            return
        import torch.distributed as dist

        self.backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(self.backend, timeout=COLLECTIVE_TIMEOUT)
        self._control_group = dist.new_group(backend="gloo") if self.backend != "gloo" else dist.group.WORLD
        hosts: list[Any] = [None] * self.world.size
        dist.all_gather_object(hosts, socket.gethostname(), group=self._control_group)
        self.hosts = [str(host) for host in hosts]

    def leave(self) -> None:
        """Leave the process group, together: each rank waits (a bounded time) for the others
        before tearing its connections down. A rank that tore down while another was still
        closing made gloo abort that one (SIGABRT, "terminate called without an active
        exception") after training was done: 3 runs in 20 on a busy 2-core machine, none in
        40 with this wait."""
        if self.world.distributed:
            import torch.distributed as dist

            if dist.is_initialized():
                try:
                    dist.monitored_barrier(group=self._control_group, timeout=LEAVE_TIMEOUT, wait_all_ranks=True)
                except RuntimeError:
                    pass  # a rank is gone or stuck: leave without it
                dist.destroy_process_group()

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value`, on every rank (any picklable object: tensors go by value)."""
        if not self.world.distributed:
            return value
        import torch.distributed as dist

        box = [value if self.world.leader else None]
        dist.broadcast_object_list(box, src=0, group=self._control_group)
        return box[0]

    def describe(self) -> dict[str, Any] | None:
        """What session.json records about the ranks (None for a one-process run)."""
        if not self.world.distributed:
            return None
        return {"world_size": self.world.size, "backend": self.backend, "hosts": self.hosts}

    # --- every batch ---------------------------------------------------------------------

    def share(self, lo: int, hi: int) -> tuple[int, int]:
        return shard(lo, hi, self.world.rank, self.world.size) if self.world.distributed else (lo, hi)

    def agree(self, control: "TrainingControl") -> bool:
        """Rank 0's word on every rank: whether to stop. While rank 0 is paused, every rank
        waits here (a message every PAUSE_BEAT seconds keeps the collectives from timing out).
        Every rank calls this at the same points; the others' own controls are not read."""
        stop, paused = self._exchange(control)
        while paused and not stop:
            if self.world.leader:
                control.wait_while_paused_for(PAUSE_BEAT)
            stop, paused = self._exchange(control)
        return stop

    def _exchange(self, control: "TrainingControl") -> tuple[bool, bool]:
        import torch
        import torch.distributed as dist

        state = torch.tensor([control.stop_requested, control.paused], dtype=torch.int32)
        dist.broadcast(state, src=0, group=self._control_group)
        return bool(state[0]), bool(state[1])

    def exchange_stats(self, stats: dict[str, Any]) -> None:
        """Every rank's speed and memory, for rank 0's system panel (the trainer calls this
        every STATS_EVERY batches, on every rank at the same batch)."""
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.world.size
        dist.all_gather_object(gathered, {"rank": self.world.rank, **stats}, group=self._control_group)
        self.rank_stats = gathered

    def sum(self, values: "torch.Tensor") -> "torch.Tensor":
        """`values` added over every rank (in place, and returned)."""
        if self.world.distributed:
            import torch.distributed as dist

            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values


# --- launching: `cnn-tui train --nproc-per-node N` ---------------------------------------


@dataclass(frozen=True)
class Launch:
    """How many processes, on how many machines, meeting where."""

    processes: str = "1"  # a count, or "auto": every visible GPU (without one: every usable core)
    nodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str | None = None

    def options(self) -> list[str]:
        """These settings as `cnn-tui train` options."""
        options = ["--nproc-per-node", self.processes, "--nnodes", str(self.nodes), "--node-rank", str(self.node_rank)]
        return options + (["--rdzv-endpoint", self.rdzv_endpoint] if self.rdzv_endpoint else [])


def process_count(text: str) -> int | None:
    """What `--nproc-per-node` and the app's procs field accept: a whole number ≥ 1, or
    auto (None here). Raises SettingError."""
    if text.strip().lower() == "auto":
        return None
    try:
        count = int(text)
    except ValueError:
        raise SettingError(f"{{nproc_per_node}} must be a whole number or auto, got {text!r:.40}",
                           "nproc_per_node") from None
    if count < 1:
        raise SettingError(f"{{nproc_per_node}} must be at least 1, got {count}", "nproc_per_node", 1)
    return count


def resolve_processes(wanted: str, device: str) -> int:
    """`--nproc-per-node` as a count, checked against the GPUs a CUDA run would use."""
    from .device import visible_gpus
    from .prepare import TrainingRefused, refuse
    from .threads import usable_cores

    try:
        count = process_count(wanted)
    except SettingError as exc:
        raise TrainingRefused(str(exc)) from exc
    gpus = visible_gpus(device)
    if count is None:
        return gpus or usable_cores()
    if device == "cuda" and not gpus:
        raise refuse("{device} cuda: no CUDA GPU is visible to torch here; use {device} cpu", "device")
    if device == "cuda" and count > gpus:
        raise refuse(f"{{nproc_per_node}} {count} asks for more GPUs than the {gpus} visible here "
                     "(one GPU per process)", "nproc_per_node", gpus or "auto")
    return count


def check_endpoint(endpoint: str, node_rank: int) -> None:
    """HOST:PORT must parse and the host resolve; on the node that hosts the rendezvous
    (node rank 0) the port must be free."""
    from .prepare import refuse

    host, _, port_text = endpoint.rpartition(":")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise refuse(f"{{rdzv_endpoint}} must be HOST:PORT, got {endpoint!r:.60}", "rdzv_endpoint")
    port = int(port_text)
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except OSError as exc:
        raise refuse(f"{{rdzv_endpoint}}: cannot resolve {host!r:.60} ({exc.strerror or exc}); "
                     "give the address of the machine with node rank 0", "rdzv_endpoint")
    if node_rank != 0:
        return
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((address, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise refuse(f"{{rdzv_endpoint}}: port {port} on {host} is in use; pick another port",
                                 "rdzv_endpoint")
                if exc.errno == errno.EADDRNOTAVAIL:
                    raise refuse(f"{{rdzv_endpoint}}: {host} is not an address of this machine, but node rank 0 "
                                 "hosts the rendezvous; run it there, or give this machine's address",
                                 "rdzv_endpoint")
                raise
