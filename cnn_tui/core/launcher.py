"""Starting a distributed run: every check and the session here, the processes by torchrun.

`cnn-tui train --nproc-per-node N` (and a detached one) runs `start_distributed`, which
makes the same checks as a one-process run, creates or claims the session, and starts
torchrun in a process session of its own. The claim (a flock on the session's lock file)
goes to torchrun as its standard input, and from torchrun to each process it starts: rank 0
adopts it (`--claimed-fd 0`), so the session is claimed without a gap from this moment to
the end of the run, and a watcher sees a live run all along.

This process stays to the end (`DistributedRun.wait`): when torchrun is done and the
session still says "running" (a process died, or torchrun tore the run down), it records
why. Imports torch only to count GPUs where there may be some.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .config import TrainConfig
from .device import gpu_memory_for
from .distributed import Launch, check_endpoint, resolve_processes, threads_per_process_for, torchrun_command
from .events import FAILED, FINISHED, RUNNING, TrainingEnded
from .prepare import TrainingRefused, prepare, refuse
from .sessions import Session, SessionError, SessionStore, new_record
from .spec import Architecture

LAUNCHED_ENV = "CNN_TUI_LAUNCHED"  # set for the processes this launcher starts: it says how the run ended

# torchrun's own log lines ("W1128 21:23:00.025000 3891 torch/distributed/...] Sending process ...").
_TORCHRUN_LOG = re.compile(r"^[DIWEF]\d{4} \d\d:\d\d:\d\d")


def run_output(lines: Iterable[str]) -> Iterable[str]:
    """What a person reads of torchrun's standard error: rank 0's lines pass; torchrun's log
    lines and its failure report (a traceback and a table of failed ranks; the session
    records the reason in one line) do not."""
    in_report = False
    for line in lines:
        if line.startswith("Traceback (most recent call last):"):
            in_report = True
        if not in_report and not _TORCHRUN_LOG.match(line):
            yield line


@dataclass
class DistributedRun:
    """torchrun and, on the machine of node rank 0, the session it trains."""

    process: subprocess.Popen
    session: Session | None
    processes: int
    launch: Launch
    stop_sent: bool = field(default=False)
    _relay: threading.Thread | None = field(default=None)

    def relay_output(self, write: Callable[[str], None]) -> None:
        """Pass rank 0's standard error on through `write` (see `run_output`), in a thread
        that reads to the end even when `write` has nowhere to go."""
        stream = self.process.stderr
        assert stream is not None

        def relay() -> None:
            for line in run_output(iter(stream.readline, "")):
                write(line.rstrip("\n"))

        self._relay = threading.Thread(target=relay, name="torchrun output", daemon=True)
        self._relay.start()

    @property
    def name(self) -> str | None:
        return self.session.name if self.session is not None else None

    def stop(self, store: SessionStore) -> None:
        """First call: ask the run to stop after its batch (every rank stops, the session
        says so). Second call: terminate torchrun, which ends every process."""
        if self.stop_sent or self.session is None:
            self.process.terminate()
            return
        self.stop_sent = True
        try:
            store.send_control(self.session.name, "stop")
        except SessionError:
            self.process.terminate()

    def wait(self) -> TrainingEnded:
        """torchrun's end, and the session's last word on it (recorded here when the run
        could not record it itself)."""
        code = self.process.wait()
        if self._relay is not None:
            self._relay.join(timeout=5)
        if self.session is None:  # node rank 0, another machine, holds the session and says how it went
            if code == 0:
                return TrainingEnded(FINISHED, None, 0)
            return TrainingEnded(FAILED, f"torchrun exited with status {code}: the run did not start, or ended "
                                         f"early (is node rank 0 running, and {self.launch.rdzv_endpoint} "
                                         "reachable from here? node rank 0's session says more)", 0)
        session = self.session
        try:
            session.reload()
            if session.record.status == RUNNING:
                session.set_status(FAILED, f"a process of the distributed run ended without finishing it "
                                           f"(torchrun exited with status {code}); its output says why; "
                                           f"resume continues from epoch {session.epochs_done}")
            return TrainingEnded(session.record.status, session.record.reason, session.epochs_done)
        except SessionError as exc:
            return TrainingEnded(FAILED, str(exc), session.epochs_done)
        finally:
            session.release()


def start_distributed(arch: Architecture | None, config: TrainConfig, store: SessionStore, name: str | None,
                      resume: bool, launch: Launch, exact: bool = False, claim_fd: int | None = None,
                      force: bool = False, detached: bool = False, relayed: bool = False) -> DistributedRun:
    """Check, claim the session (node rank 0), start torchrun. Raises TrainingRefused
    (nothing written, nothing started) when the run cannot start. `relayed`: torchrun's
    standard error comes back through a pipe (`DistributedRun.relay_output`)."""
    processes = check_launch(launch, config.device, exact)
    session = None
    args = ["--device", config.device]
    if config.threads is not None:
        args += ["--threads", str(config.threads)]
    if launch.node_rank == 0:
        session = _claim(arch, config, store, name, resume, exact, claim_fd, force, detached)
        args += ["--session", session.name, "--sessions-dir", str(store.root), "--resume",
                 "--epochs", str(config.epochs), "--claimed-fd", "0"]
    command = torchrun_command(args, processes, launch.nodes, launch.node_rank, launch.rdzv_endpoint)
    env = {**os.environ, "OMP_NUM_THREADS": str(config.threads or threads_per_process_for(processes)),
           LAUNCHED_ENV: "1"}
    try:
        process = subprocess.Popen(command, stdin=session.claim_fd() if session is not None else subprocess.DEVNULL,
                                   stderr=subprocess.PIPE if relayed else None, text=True, errors="replace",
                                   env=env, start_new_session=True)  # a Ctrl-C reaches the run as a stop
    except OSError as exc:
        if session is not None:
            session.set_status(FAILED, f"could not start torchrun: {exc}")
            session.release()
        raise TrainingRefused(f"could not start torchrun: {exc}") from None
    return DistributedRun(process, session, processes, launch)


def check_launch(launch: Launch, device: str, exact: bool) -> int:
    """Everything about the processes that can be checked before starting them; their
    number on this machine. Raises TrainingRefused."""
    processes = resolve_processes(launch.processes, device)
    if exact and (processes > 1 or launch.nodes > 1):
        raise refuse("{exact} reproduces one process bit for bit; leave it out, or train with one process")
    if launch.rdzv_endpoint is not None:
        check_endpoint(launch.rdzv_endpoint, launch.node_rank)
    elif launch.nodes > 1:
        raise refuse("{nnodes} above 1 needs {rdzv_endpoint} HOST:PORT, the address of node rank 0", "rdzv_endpoint")
    return processes


def check_and_claim(arch: Architecture | None, config: TrainConfig, store: SessionStore, name: str | None,
                    resume: bool, exact: bool = False, force: bool = False,
                    detached: bool = False) -> tuple[Session, TrainConfig]:
    """For a run whose training process starts later, elsewhere (a background run, torchrun):
    every check a one-process run makes, then its session claimed here, the one to resume or
    a new one; and the configuration it trains with. Raises TrainingRefused."""
    arch, config = prepare(arch, config, store, name, resume, force=force, gpu_memory=gpu_memory_for(config.device),
                           exact=exact)
    try:
        if resume:
            assert name is not None
            return store.claim(name), config
        return store.create(name, new_record(arch, config, config.device, exact, detached=detached)), config
    except SessionError as exc:
        raise TrainingRefused(str(exc)) from exc


def _claim(arch: Architecture | None, config: TrainConfig, store: SessionStore, name: str | None, resume: bool,
           exact: bool, claim_fd: int | None, force: bool, detached: bool) -> Session:
    """The session the run writes: adopted from the parent (a detached run), or checked and
    claimed here."""
    if claim_fd is None:
        return check_and_claim(arch, config, store, name, resume, exact, force, detached)[0]
    assert name is not None
    try:
        return store.claim(name, claim_fd)
    except SessionError as exc:
        raise TrainingRefused(str(exc)) from exc
