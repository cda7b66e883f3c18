"""Background runs: training in a process of its own that outlives the terminal.

`start_background` makes every check `cnn-tui train` makes (one clear line on a mistake),
creates and claims the session in the foreground, then hands the claim to a detached
`cnn-tui train --resume` process — its own process session, no terminal, its output in the
session's train.log — and returns at once. The claim (a flock) passes to the child with
its file descriptor, so there is no moment at which the session is unclaimed. Imports no
torch unless an accelerator is asked for by name (to check it is there).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

from .config import TrainConfig
from .distributed import Launch
from .launcher import check_and_claim, check_launch
from .prepare import TrainingRefused, refuse
from .sessions import SessionError, SessionStore
from .spec import Architecture

CLAIMED_FD_OPTION = "--claimed-fd"  # how the child is told which descriptor holds its claim


@dataclass(frozen=True)
class BackgroundRun:
    name: str
    pid: int
    log: str


def start_background(arch: Architecture | None, config: TrainConfig, store: SessionStore, name: str | None = None,
                     exact: bool = False, launch: Launch | None = None, resume: bool = False) -> BackgroundRun:
    """Start a background run: a new session, or (`resume`) more epochs of session `name`;
    with `launch`, a distributed one (the background process starts torchrun and stays to
    record how it ended). Raises TrainingRefused (nothing written) when it cannot start."""
    if launch is not None:
        if launch.node_rank != 0:
            raise refuse("{detach} runs the session's machine, node rank 0; on the other machines start "
                         "cnn-tui train in the foreground (or under nohup)", "node_rank")
        check_launch(launch, config.device, exact)
    session, config = check_and_claim(arch, config, store, name, resume, exact, detached=True)
    try:
        log = session.open_log()
        claim = session.claim_fd()
        command = [sys.executable, "-m", "cnn_tui", "train", "--session", session.name,
                   "--sessions-dir", str(store.root), "--resume", "--epochs", str(config.epochs),
                   "--device", config.device, CLAIMED_FD_OPTION, str(claim)] + (["--exact"] if exact else [])
        if launch is not None:
            command += launch.options()
        try:
            child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=True, pass_fds=(claim,))
        finally:
            os.close(log)
    except (OSError, SessionError) as exc:
        session.set_status("failed", f"could not start the background process: {exc}")
        raise TrainingRefused(f"could not start the background process: {exc}") from None
    finally:
        session.release()  # the child holds the claim now
    return BackgroundRun(session.name, child.pid, str(session.log_file))
