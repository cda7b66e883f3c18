"""Losing the terminal without losing the run.

When the terminal goes away (the SSH connection drops, the tmux session is killed) the
kernel sends SIGHUP and every later write to it fails (EIO). A run that should go on
points its standard streams elsewhere first: stdout and stderr at /dev/null, so nothing
fails and nothing is written to the dead terminal, and stdin at a pipe that never has data
(not /dev/null: a reader would see end-of-file at once and spin).
"""

from __future__ import annotations

import os

_keep: list[int] = []  # the pipe's write end stays open so its read end never reports EOF


def detach_from_terminal() -> None:
    null = os.open(os.devnull, os.O_WRONLY)
    read_end, write_end = os.pipe()
    _keep.append(write_end)
    for target, source in ((0, read_end), (1, null), (2, null)):
        try:
            os.dup2(source, target)
        except OSError:
            pass
    os.close(null)
    os.close(read_end)

