"""Writing files safely: the one atomic-write helper, with the user's umask honoured.

A temporary file beside the target, fsynced, then renamed over it: a crash leaves either the
old file or the new one, never half of either. `tempfile.mkstemp` creates files 0600; on a
shared machine teammates must be able to read each other's runs, so the file gets the mode
a plain `open()` would have given it (0666 less the umask). Pure Python, no torch.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

TEMP_SUFFIX = ".tmp"


def current_umask() -> int:
    """The process's umask, read without changing it where Linux allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (a brief, harmless window)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode `open(path, "w")` would create a file with."""
    return 0o666 & ~current_umask()


def temp_prefix(path: Path) -> str:
    """Temporary files of `path` are `.<name>.<random>.tmp` beside it."""
    return f".{path.name}."


@contextmanager
def atomic_writer(path: Path, mode: str = "w", durable: bool = True) -> Iterator[IO]:
    """Yield a file to write; on success it replaces `path` atomically, on failure it is gone.

    `durable` fsyncs before the rename (skip it only for files rewritten every moment).
    The parent directory must exist: a path that names a missing folder is an error, never
    a reason to create folders."""
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (see atomic_writer)."""
    with atomic_writer(Path(path)) as handle:
        handle.write(text)
