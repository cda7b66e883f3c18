"""Sessions on disk. This module owns the layout; nothing else opens these paths.

    <sessions-dir>/<name>/session.json    what the run is and where it stands (atomic rewrites)
    <sessions-dir>/<name>/metrics.jsonl   one line per finished epoch, appended and fsynced
    <sessions-dir>/<name>/checkpoint.pt   model + optimizer + RNG state (atomic, weights_only)
    <sessions-dir>/<name>/progress.json   the current batch, rewritten a few times a second
    <sessions-dir>/<name>/control/        commands from watchers (pause, resume, stop)
    <sessions-dir>/<name>/train.log       a background run's output
    <sessions-dir>/<name>/.lock           held (flock) by the one process that writes the session

One writer: a run *claims* its folder by taking an exclusive `flock` on `.lock` and holds it
for its whole life. The kernel drops the lock when the process dies, so a session that says
"running" while nobody holds its lock was interrupted — no guessing from process ids. A
`Session` opened without the claim is read-only: its only way to affect the run is
`SessionStore.send_control`. Every session file is opened without following symbolic links.

torch is imported only by the checkpoint methods, so listing sessions stays instant.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import io
import json
import os
import platform
import re
import shutil
import socket
import stat
import time
import types
import typing
import warnings
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..words import blaming
from .confusion import check_matrix
from .events import FAILED, FINISHED, RUNNING, STOPPED
from .files import TEMP_SUFFIX, atomic_writer

if TYPE_CHECKING:
    from .config import TrainConfig
    from .spec import Architecture

SCHEMA_VERSION = 1
SESSION_FILE = "session.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
PROGRESS_FILE = "progress.json"
LOG_FILE = "train.log"
LOCK_FILE = ".lock"
CONTROL_DIR = "control"
CONTROL_COMMANDS = ("pause", "resume", "stop")
DEFAULT_SESSIONS_DIR = "sessions"
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
INTERRUPTED = "interrupted"  # shown for a "running" session whose process is gone
STATUSES = (RUNNING, FINISHED, STOPPED, FAILED)
CLAIM_WAIT = 0.3  # seconds a claim retries while a reader briefly probes the lock

METRIC_FIELDS = (
    "epoch", "total_loss", "total_correct", "samples", "train_accuracy", "test_loss",
    "test_correct", "test_samples", "test_accuracy", "seconds", "images_per_second", "lr",
    "batches",  # lets a reader turn total_loss into a mean per batch
)
# Lines written before these existed lack them. confusion: the test set's confusion matrix
# (rows: true class, columns: predicted class; cnn_tui.core.confusion). batch_losses: each
# batch's mean loss, in order (what the loss chart draws per batch). threads: torch's CPU
# threads in this process, the count most of the epoch's batches ran with (seconds per epoch
# depend on them; unless chosen, the count follows the machine's free cores during a run).
OPTIONAL_METRIC_FIELDS = ("peak_memory_bytes", "confusion", "batch_losses", "threads")


class SessionError(Exception):
    """A session that cannot be used; the message names the file and what is wrong."""


class SessionBusy(SessionError):
    """Another process holds the session (it is training it, or creating it)."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_name(name: str) -> str:
    """Session names are [A-Za-z0-9._-], 1-100 characters, and never start with a dot."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise SessionError(
            f"invalid session name {name!r}: use 1-100 of A-Z a-z 0-9 . _ - (not starting with a dot)"
        )
    return name


def library_versions() -> dict[str, str]:
    from importlib import metadata  # reads package metadata; imports nothing heavy

    versions = {"cnn_tui": __version__, "python": platform.python_version()}
    for package in ("torch", "torchvision", "textual"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


# --- files: never through a link, errors in words ---------------------------------------


def _disk_error(exc: OSError, path: Path, doing: str) -> SessionError:
    if exc.errno == errno.ENOSPC:
        why = "no space left on device"
    elif exc.errno == errno.ELOOP:
        why = "it is a symbolic link; session files must be plain files (remove the link)"
    else:
        why = exc.strerror or str(exc)
    return SessionError(f"{path}: cannot {doing} ({why})")


def _open(path: Path, flags: int, doing: str) -> int:
    """os.open that never follows a symbolic link and never opens anything but a file."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)  # mode less the umask
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _disk_error(exc, path, doing) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SessionError(f"{path}: cannot {doing} (not a plain file)")
    return fd


def _read_bytes(path: Path) -> bytes:
    fd = _open(path, os.O_RDONLY, "read")
    try:
        with os.fdopen(fd, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise _disk_error(exc, path, "read") from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(_read_bytes(path).decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise SessionError(f"{path}: damaged ({str(exc)[:160]})") from None


def _write_atomic(path: Path, data: bytes | str, durable: bool = True) -> None:
    try:
        with atomic_writer(path, "wb", durable=durable) as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
    except OSError as exc:
        raise _disk_error(exc, path, "write") from None


# --- the claim: one writer per session --------------------------------------------------


def _lock_state(folder: Path) -> bool | None:
    """True while some process holds the folder's claim, False when nobody does, None when
    the folder has no lock file (a session written before claims existed)."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's shared lock at once


def _take_lock(folder: Path, name: str) -> int:
    fd = _open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, "create the lock")
    deadline = time.monotonic() + CLAIM_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise SessionBusy(f"session {name!r} is in use by another process (training or being created); "
                                  "watch it with: cnn-tui watch " + name) from None
            time.sleep(0.02)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- session.json and checkpoint.pt, typed ------------------------------------------------


@dataclass
class SessionRecord:
    """What session.json holds, field by field: the one description of the file.

    Other modules read it through `Session`'s accessors and change it through its named
    writers (`set_status`, `set_epochs_done`, ...), never by key. Fields a newer cnn-tui
    wrote are kept in `extra` and written back unchanged.
    """

    name: str
    status: str
    architecture: dict[str, Any]  # the architecture format, with its input
    config: dict[str, Any]  # TrainConfig.to_json()
    epochs_done: int  # epochs whose checkpoint is on disk: what a resume continues from
    schema_version: int = SCHEMA_VERSION
    created: str = ""
    updated: str = ""
    reason: str | None = None
    dataset: str = "?"
    device: str = "?"
    exact: bool = False
    summary: dict[str, Any] = field(default_factory=dict)  # total_params, total_macs, counted_layers
    versions: dict[str, Any] = field(default_factory=dict)  # library versions of the last run
    pid: int | None = None  # the process that last set "running"
    host: str | None = None
    detached: bool = False  # started in the background (`cnn-tui train --detach`)
    terminal_lost: str | None = None  # when the run's terminal hung up, if it did
    started: dict[str, Any] | None = None  # the TrainingStarted event, for watchers
    distributed: dict[str, Any] | None = None  # world_size, backend, hosts of the last run (None: one process)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, file: Path, name: str) -> "SessionRecord":
        """Check every field's type and value; SessionError names the file and the field."""
        if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
            found = data.get("schema_version") if isinstance(data, dict) else None
            raise SessionError(f"{file}: not a cnn-tui session (schema_version {found!r})")
        known = _record_fields()
        for key, (accepted, required) in known.items():
            if key == "name":
                continue  # the folder's name is the session's name
            if key not in data:
                if required:
                    raise SessionError(f"{file}: damaged (no {key})")
                continue
            value = data[key]
            if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
                raise SessionError(f"{file}: damaged ({key} is {value!r:.40}, "
                                   f"not {' or '.join(t.__name__ for t in accepted)})")
        values = {key: data[key] for key in known if key in data and key != "name"}
        record = cls(name=name, **values, extra={k: v for k, v in data.items() if k not in known})
        record._check_values(file)
        return record

    def _check_values(self, file: Path) -> None:
        if self.status not in STATUSES:
            raise SessionError(f"{file}: damaged (status {self.status!r:.40} is none of {', '.join(STATUSES)})")
        if self.epochs_done < 0:
            raise SessionError(f"{file}: damaged (epochs_done {self.epochs_done} is negative)")
        from .config import TrainConfig
        from .spec import Architecture, ArchitectureError

        try:
            TrainConfig.from_json(self.config).validate()
        except (ValueError, TypeError) as exc:
            raise SessionError(f"{file}: damaged (config: {exc})") from None
        try:
            Architecture.from_dict(self.architecture)
        except ArchitectureError as exc:
            raise SessionError(f"{file}: damaged (architecture: {exc})") from None

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        return {**data, **self.extra}


@functools.cache
def _record_fields() -> dict[str, tuple[tuple[type, ...], bool]]:
    """Each SessionRecord field (but `extra`): the JSON types it accepts, and whether it is required."""
    hints = typing.get_type_hints(SessionRecord)
    accepts: dict[str, tuple[tuple[type, ...], bool]] = {}
    for f in fields(SessionRecord):
        if f.name == "extra":
            continue
        hint = hints[f.name]
        options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        accepted = tuple(typing.get_origin(option) or option for option in options)
        accepts[f.name] = (accepted, f.default is MISSING and f.default_factory is MISSING)
    return accepts


@dataclass
class Checkpoint:
    """What checkpoint.pt holds: the model, the optimizer, the RNG states and how many
    epochs they are the result of. `architecture` lets the checkpoint alone rebuild the model."""

    model: dict[str, Any]  # state_dict of the unwrapped model
    optimizer: dict[str, Any]
    epoch: int  # epochs done
    rng: dict[str, Any]  # "torch", "shuffle", and "cuda" on a GPU
    architecture: dict[str, Any] | None = None
    scaler: dict[str, Any] | None = None  # fp16 mixed precision's GradScaler state

    def to_state(self) -> dict[str, Any]:
        """Plain containers and tensors only: what torch.load(weights_only=True) accepts."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_state(cls, state: Any, file: Path) -> "Checkpoint":
        expected = {"model", "optimizer", "epoch", "rng"}
        if not isinstance(state, dict) or not expected <= set(state):
            missing = sorted(expected - set(state) if isinstance(state, dict) else expected)
            raise SessionError(f"{file}: not a cnn-tui checkpoint (missing {missing})")
        epoch = state["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int):
            raise SessionError(f"{file}: damaged (epoch is {epoch!r:.40}, not a count)")
        return cls(**{f.name: state.get(f.name) for f in fields(cls)})


def _check_metrics_row(row: Any, expected_epoch: int) -> str | None:
    """Why a metrics line is not the epoch that should come next, or None."""
    if not isinstance(row, dict):
        return "not an epoch record"
    for key in METRIC_FIELDS:
        value = row.get(key)
        if key not in row or isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{key} is missing or not a number"
    if row["epoch"] != expected_epoch:
        return f"epoch {row['epoch']!r} where epoch {expected_epoch} should come (two runs wrote this session?)"
    if "confusion" in row and (problem := check_matrix(row["confusion"])) is not None:
        return f"confusion is {problem}"
    losses = row.get("batch_losses")
    if losses is not None and (not isinstance(losses, list) or len(losses) != row["batches"] or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in losses)):
        return f"batch_losses is not a list of {row['batches']} numbers"
    return None


def _parse_metrics_line(line: str, expected_epoch: int) -> tuple[Any, str | None]:
    """One metrics line and why it is not the epoch that should come next (None: it is)."""
    try:
        row = json.loads(line)
    except (ValueError, RecursionError) as exc:
        return None, str(exc)[:120]
    return row, _check_metrics_row(row, expected_epoch)


@dataclass
class SessionInfo:
    """One line of `cnn-tui sessions`."""

    name: str
    status: str
    reason: str | None
    dataset: str
    epochs_done: int
    epochs_target: int
    best_test_accuracy: float | None
    updated: str
    live: bool = False
    progress: dict[str, Any] | None = None  # a live run's current epoch, batch, images/s
    warnings: list[str] = field(default_factory=list)


class Session:
    """One session folder. `SessionStore.create` and `claim` give a writable one (the claim
    is held until `release`); `SessionStore.open` gives a read-only one."""

    def __init__(self, path: Path, record: SessionRecord, claim_fd: int | None = None) -> None:
        self.path = path
        self.record = record
        self._claim_fd = claim_fd

    def __del__(self) -> None:
        self.release()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def session_file(self) -> Path:
        return self.path / SESSION_FILE

    @property
    def metrics_file(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def checkpoint_file(self) -> Path:
        return self.path / CHECKPOINT_FILE

    @property
    def progress_file(self) -> Path:
        return self.path / PROGRESS_FILE

    @property
    def log_file(self) -> Path:
        return self.path / LOG_FILE

    # --- the claim --------------------------------------------------------------------

    def release(self) -> None:
        """Give up the claim (the kernel does this too when the process dies)."""
        fd, self._claim_fd = getattr(self, "_claim_fd", None), None
        if fd is not None:
            os.close(fd)

    def claim_fd(self) -> int:
        """The claim's descriptor, for handing the claim to a child process."""
        self._need_claim()
        assert self._claim_fd is not None
        return self._claim_fd

    def _need_claim(self) -> None:
        if self._claim_fd is None:
            raise SessionError(f"session {self.name!r} is open read-only here; only its training process writes it")

    @property
    def live(self) -> bool:
        """Is a process training this session right now?"""
        if self._claim_fd is not None:
            return True
        held = _lock_state(self.path)
        if held is not None:
            return held
        # A session from before claims: its pid is all there is.
        record = self.record
        return (record.status == RUNNING and record.host == socket.gethostname()
                and record.pid is not None and _pid_alive(record.pid))

    # --- session.json -----------------------------------------------------------------

    def _save(self) -> None:
        """Rewrite session.json atomically from the record."""
        self._need_claim()
        self.record.updated = now()
        _write_atomic(self.session_file, json.dumps(self.record.to_json(), indent=2) + "\n")

    def set_status(self, status: str, reason: str | None = None) -> None:
        """How the run stands; "running" also records which process on which host runs it."""
        self._need_claim()
        self.record.status, self.record.reason = status, reason
        if status == RUNNING:
            self.record.pid, self.record.host = os.getpid(), socket.gethostname()
        self._save()

    def set_epochs_done(self, epochs: int) -> None:
        """Called once an epoch's checkpoint is on disk (and when a resume starts from one)."""
        self._need_claim()
        if self.record.epochs_done != epochs:
            self.record.epochs_done = epochs
            self._save()

    def set_started(self, started: dict[str, Any]) -> None:
        """The run's TrainingStarted event: what a watcher shows before the first batch."""
        self._need_claim()
        self.record.started = started
        self._save()

    def set_distributed(self, distributed: dict[str, Any] | None) -> None:
        """How many processes train it, with which backend, on which hosts (None: one)."""
        self._need_claim()
        if self.record.distributed != distributed:
            self.record.distributed = distributed
            self._save()

    def note_terminal_lost(self) -> None:
        """The run's terminal hung up; it trains on. Recorded once."""
        self._need_claim()
        if self.record.terminal_lost is None:
            self.record.terminal_lost = now()
            self._save()

    def start_resume(self, config: "TrainConfig", device: str) -> None:
        """A resume: its config (only epochs and device may differ) and device, running again."""
        self._need_claim()
        self.record.config, self.record.device = config.to_json(), device
        self.set_status(RUNNING)

    def reload(self) -> None:
        """Read session.json again (a reader following a live run)."""
        self.record = SessionRecord.from_json(_read_json(self.session_file), self.session_file, self.name)

    @property
    def status(self) -> str:
        """The recorded status, or "interrupted" when it says running but nobody trains it."""
        status = self.record.status
        if status == RUNNING and not self.live:
            return INTERRUPTED
        return status

    @property
    def reason(self) -> str | None:
        return self.record.reason

    @property
    def epochs_done(self) -> int:
        """Epochs whose checkpoint is safely on disk: what a resume continues from."""
        return self.record.epochs_done

    @property
    def device(self) -> str:
        """The device the last run trained on ("?" before any run started)."""
        return self.record.device or "?"

    @property
    def config(self) -> "TrainConfig":
        from .config import TrainConfig

        return TrainConfig.from_json(self.record.config)

    @property
    def architecture(self) -> "Architecture":
        from .spec import Architecture

        return Architecture.from_dict(self.record.architecture)

    @property
    def started(self) -> dict[str, Any] | None:
        """The run's TrainingStarted event as written, once the run has set up."""
        return self.record.started

    @property
    def pid(self) -> int | None:
        return self.record.pid

    # --- metrics.jsonl ----------------------------------------------------------------

    def append_metrics(self, metrics: dict[str, Any]) -> None:
        """Append one finished epoch and fsync, so a crash right after keeps it."""
        self._need_claim()
        row = {key: metrics[key] for key in METRIC_FIELDS}
        row.update({key: metrics[key] for key in OPTIONAL_METRIC_FIELDS if key in metrics})
        line = (json.dumps(row) + "\n").encode("utf-8")
        fd = _open(self.metrics_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, "append to")
        try:
            written = 0
            while written < len(line):
                written += os.write(fd, line[written:])
            os.fsync(fd)
        except OSError as exc:
            raise _disk_error(exc, self.metrics_file, "append to") from None
        finally:
            os.close(fd)

    def read_metrics(self) -> tuple[list[dict[str, Any]], list[str]]:
        """All finished epochs, and warnings. A torn last line (a crash mid-write) is
        skipped with a warning; a damaged line elsewhere is an error naming the file."""
        try:
            text = _read_bytes(self.metrics_file).decode("utf-8")
        except FileNotFoundError:
            return [], []
        except UnicodeDecodeError as exc:
            raise SessionError(f"{self.metrics_file}: cannot read ({exc})") from None
        return parse_metrics(text, self.metrics_file)

    def read_new_metrics(self, offset: int, next_epoch: int) -> tuple[list[dict[str, Any]], int] | None:
        """For a reader following a live run: the complete epoch lines written after byte
        `offset` (a half-written last line waits for its newline), and the offset to read
        from next time. None when the file shrank (a resume rewrote it): read it all again."""
        try:
            fd = _open(self.metrics_file, os.O_RDONLY, "read")
        except FileNotFoundError:
            return ([], 0) if offset == 0 else None
        try:
            if os.fstat(fd).st_size < offset:
                return None
            os.lseek(fd, offset, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(fd)
        data = b"".join(chunks)
        complete = data[: data.rfind(b"\n") + 1]
        rows = []
        for line in complete.decode("utf-8", "replace").splitlines():
            row, problem = _parse_metrics_line(line, next_epoch + len(rows))
            if problem is not None:
                raise SessionError(f"{self.metrics_file}: a new line is damaged ({problem})")
            rows.append(row)
        return rows, offset + len(complete)

    def truncate_metrics(self, epochs: int) -> None:
        """Keep only epochs < `epochs` (used when resuming from an older checkpoint); a torn
        last line is dropped too, so the lines appended next do not follow it."""
        self._need_claim()
        rows, torn = self.read_metrics()
        kept = [row for row in rows if row["epoch"] < epochs]
        if len(kept) != len(rows) or torn:
            _write_atomic(self.metrics_file, "".join(json.dumps(row) + "\n" for row in kept))

    # --- checkpoint.pt ----------------------------------------------------------------

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Serialise in memory, then write a temporary file, fsync, rename: never a
        half-written checkpoint, and a full disk is named as such."""
        import torch

        self._need_claim()
        buffer = io.BytesIO()
        torch.save(checkpoint.to_state(), buffer)
        _write_atomic(self.checkpoint_file, buffer.getbuffer())

    def load_checkpoint(self) -> Checkpoint:
        """The checkpoint, loaded with weights_only=True; damage is named, not raised raw.
        Its epoch count must agree with metrics.jsonl (which is written before it)."""
        import torch

        try:
            data = _read_bytes(self.checkpoint_file)
        except FileNotFoundError:
            raise SessionError(f"{self.checkpoint_file}: no checkpoint yet (no epoch has finished)") from None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SessionError(f"{self.checkpoint_file}: not a cnn-tui checkpoint ({first[:160]})") from None
        checkpoint = Checkpoint.from_state(state, self.checkpoint_file)
        rows, _ = self.read_metrics()
        if not 0 <= checkpoint.epoch <= len(rows):
            raise SessionError(f"{self.checkpoint_file}: damaged (it says {checkpoint.epoch} epochs are done, "
                               f"but {self.metrics_file.name} holds {len(rows)})")
        return checkpoint

    def open_log(self) -> int:
        """A background run's log (train.log), opened for appending: its stdout and stderr."""
        self._need_claim()
        return _open(self.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, "create the log")

    # --- progress.json and the control channel -----------------------------------------

    def write_progress(self, progress: dict[str, Any]) -> None:
        """The current batch, for watchers: atomic, not fsynced (it is rewritten in a moment)."""
        self._need_claim()
        _write_atomic(self.progress_file, json.dumps({**progress, "time": time.time()}), durable=False)

    def read_progress(self) -> dict[str, Any] | None:
        """The last progress a live run wrote, or None (not written yet, or half-replaced)."""
        try:
            progress = json.loads(_read_bytes(self.progress_file).decode("utf-8"))
        except (FileNotFoundError, SessionError, ValueError, UnicodeDecodeError):
            return None
        return progress if isinstance(progress, dict) else None

    def take_commands(self) -> list[str]:
        """The trainer's side of the control channel: commands sent since the last call,
        oldest first; each is removed once taken."""
        self._need_claim()
        folder = self.path / CONTROL_DIR
        try:
            names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
        except OSError:
            return []
        commands = []
        for name in names:
            command = name.rsplit(".", 1)[-1]
            try:
                os.unlink(folder / name)
            except OSError:
                continue
            if command in CONTROL_COMMANDS:
                commands.append(command)
        return commands

    def _prepare_for_writing(self) -> None:
        """Fresh control folder; temporary files of a killed write are removed."""
        for entry in os.scandir(self.path):
            if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX):
                Path(entry.path).unlink(missing_ok=True)
        control = self.path / CONTROL_DIR
        if control.is_symlink() or (control.exists() and not control.is_dir()):
            control.unlink()
        control.mkdir(exist_ok=True)
        for stale in os.listdir(control):
            (control / stale).unlink(missing_ok=True)

    # --- summary ----------------------------------------------------------------------

    def info(self) -> SessionInfo:
        rows, warnings_ = self.read_metrics()
        live = self.live
        record = self.record
        status = record.status if live or record.status != RUNNING else INTERRUPTED
        done = len(rows) if live else min(len(rows), self.epochs_done)
        accuracies = [row["test_accuracy"] for row in rows[:done]]
        return SessionInfo(
            name=self.name,
            status=status,
            reason=self.reason,
            dataset=record.dataset,
            epochs_done=done,
            epochs_target=self.config.epochs,
            best_test_accuracy=max(accuracies) if accuracies else None,
            updated=record.updated,
            live=live,
            progress=self.read_progress() if live else None,
            warnings=warnings_,
        )


def parse_metrics(text: str, file: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """metrics.jsonl's epochs, checked: consecutive from 0, every field a number. A torn
    last line is skipped with a warning; damage before it is an error naming the line."""
    rows: list[dict[str, Any]] = []
    warnings_: list[str] = []
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        row, problem = _parse_metrics_line(line, len(rows))
        if problem is not None:
            if all(not rest.strip() for rest in lines[number:]) and not text.endswith("\n"):
                warnings_.append(f"{file}: ignored a torn last line ({number})")
                continue
            raise SessionError(f"{file}: line {number} is damaged ({problem})")
        rows.append(row)
    return rows, warnings_


def new_record(arch: "Architecture", config: "TrainConfig", device: str, exact: bool = False,
               detached: bool = False) -> SessionRecord:
    """What session.json says about a run before it trains: the one place this is assembled.
    `SessionStore.create` gives it its name and times."""
    from .shapes import infer_shapes

    summary = infer_shapes(arch, config.input)
    return SessionRecord(
        name="", status=RUNNING, architecture=arch.with_input(config.input).to_dict(),
        config=config.to_json(), epochs_done=0, dataset=config.dataset, device=device, exact=exact,
        summary={"total_params": summary.total_params, "total_macs": summary.total_macs,
                 "counted_layers": summary.counted_layers},
        detached=detached,
    )


class SessionStore:
    """The sessions directory: create, claim, open, list, rename, delete. Paths never leave it."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root or DEFAULT_SESSIONS_DIR)

    def path(self, name: str) -> Path:
        path = self.root / check_name(name)
        if path.resolve().parent != self.root.resolve():  # a folder that is a link elsewhere
            raise SessionError(f"invalid session {name!r}: it leads outside {self.root}")
        return path

    def exists(self, name: str) -> bool:
        return (self.path(name) / SESSION_FILE).exists()

    def new_name(self, prefix: str = "run") -> str:
        """A fresh name such as `run-20261128-073012` (suffixed when taken)."""
        base = f"{prefix}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        name, n = base, 1
        while self.path(name).exists():
            n += 1
            name = f"{base}-{n}"
        return name

    def _make_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise blaming(SessionError, f"sessions folder {self.root} is a file, not a folder; "
                                        "pick another with {sessions_dir}")
        except OSError as exc:
            raise blaming(SessionError, f"cannot create the sessions folder {self.root} ({exc.strerror}); "
                                        "pick another with {sessions_dir}")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise blaming(SessionError, f"cannot write in the sessions folder {self.root} (permission denied); "
                                        "pick another with {sessions_dir}")

    def create(self, name: str | None, record: SessionRecord) -> Session:
        """A new session, claimed: its folder and session.json, status running. Refuses a
        name that exists; with no name, picks a fresh `run-...` one."""
        self._make_root()
        while True:
            chosen = name or self.new_name()
            path = self.path(chosen)
            try:
                path.mkdir(exist_ok=True)
                fd = _take_lock(path, chosen)
            except SessionBusy:
                if name is None:
                    continue
                raise
            except OSError as exc:
                raise _disk_error(exc, path, "create the session folder") from None
            if (path / SESSION_FILE).exists() or (path / SESSION_FILE).is_symlink():
                os.close(fd)
                if name is None:
                    continue
                raise SessionError(f"session {chosen!r} already exists in {self.root}; "
                                   "resume it or pick another name")
            break
        record = replace(record, name=chosen, created=now(), versions=library_versions())
        session = Session(path, record, claim_fd=fd)
        try:
            for stale in (METRICS_FILE, CHECKPOINT_FILE, PROGRESS_FILE):  # a folder left by a failed create
                (path / stale).unlink(missing_ok=True)
            session._prepare_for_writing()
            session.set_status(RUNNING)
        except BaseException:
            session.release()
            raise
        return session

    def claim(self, name: str, claim_fd: int | None = None) -> Session:
        """An existing session, claimed for writing (to resume it). `claim_fd` adopts a claim
        that a parent process took and handed down (a background run)."""
        path = self.path(name)
        if not (path / SESSION_FILE).exists():
            raise SessionError(f"no session {name!r} in {self.root} (no {path / SESSION_FILE})")
        if claim_fd is None:
            fd = _take_lock(path, name)
        else:
            fd = self._adopt(path, name, claim_fd)
        try:
            session = self._open(path, name, fd)
            session._prepare_for_writing()
        except BaseException:
            os.close(fd)
            raise
        return session

    @staticmethod
    def _adopt(path: Path, name: str, fd: int) -> int:
        try:
            held, lock = os.fstat(fd), os.stat(path / LOCK_FILE, follow_symlinks=False)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours already: a no-op
        except OSError:
            raise SessionBusy(f"session {name!r}: the claim handed to this process is not held") from None
        if (held.st_dev, held.st_ino) != (lock.st_dev, lock.st_ino):
            raise SessionBusy(f"session {name!r}: the claim handed to this process is another session's")
        os.set_inheritable(fd, False)
        return fd

    def open(self, name: str) -> Session:
        """A session to read (never to write)."""
        return self._open(self.path(name), name, None)

    def _open(self, path: Path, name: str, fd: int | None) -> Session:
        file = path / SESSION_FILE
        try:
            data = _read_json(file)
        except FileNotFoundError:
            raise SessionError(f"no session {name!r} in {self.root} (no {file})") from None
        return Session(path, SessionRecord.from_json(data, file, name), claim_fd=fd)

    def send_control(self, name: str, command: str) -> None:
        """A watcher's one way to steer a run: pause, resume or stop. The trainer takes it
        between batches and acknowledges it in progress.json."""
        if command not in CONTROL_COMMANDS:
            raise SessionError(f"unknown command {command!r}; use one of {', '.join(CONTROL_COMMANDS)}")
        session = self.open(name)
        if not session.live:
            raise SessionError(f"session {name!r} is not training ({session.status}); nothing to {command}")
        folder = session.path / CONTROL_DIR
        base = f"{time.time_ns():020d}-{os.getpid()}-{os.urandom(3).hex()}.{command}"
        try:
            with atomic_writer(folder / base, "w", durable=False) as handle:
                handle.write(f"{command} from {socket.gethostname()} pid {os.getpid()}\n")
        except OSError as exc:
            raise _disk_error(exc, folder, f"send {command}") from None

    def rename(self, old: str, new: str) -> None:
        """Rename a session that nobody is training."""
        check_name(new)
        source, target = self.path(old), self.path(new)
        if target.exists() or target.is_symlink():
            raise SessionError(f"session {new!r} already exists in {self.root}; pick another name")
        with self.claim(old) as session:
            try:
                os.rename(source, target)
            except OSError as exc:
                raise _disk_error(exc, source, f"rename to {new}") from None
            session.path = target
            session.record.name = new
            session._save()

    def delete(self, name: str) -> None:
        """Delete a session that nobody is training: its folder and everything in it."""
        with self.claim(name) as session:
            trash = session.path.with_name(f".deleting-{name}-{os.getpid()}")
            try:
                os.rename(session.path, trash)  # gone from listings at once, even if removal is slow
                shutil.rmtree(trash)
            except OSError as exc:
                raise _disk_error(exc, session.path, "delete") from None

    def list(self) -> tuple[list[SessionInfo], list[str]]:
        """Every readable session (newest first), and one problem line per damaged one."""
        infos: list[SessionInfo] = []
        problems: list[str] = []
        if not self.root.is_dir():
            if self.root.exists():
                raise blaming(SessionError, f"sessions folder {self.root} is not a folder; "
                                            "pick another with {sessions_dir}")
            return infos, problems
        for path in sorted(self.root.iterdir()):
            if not NAME_PATTERN.fullmatch(path.name) or path.is_symlink() or not path.is_dir():
                continue
            if not (path / SESSION_FILE).exists():
                continue
            try:
                infos.append(self.open(path.name).info())
            except SessionError as exc:
                problems.append(str(exc))
            except (OSError, ValueError, TypeError, KeyError) as exc:  # never let one folder hide the rest
                problems.append(f"{path}: unreadable ({type(exc).__name__}: {str(exc)[:120]})")
        infos.sort(key=lambda info: info.updated, reverse=True)
        return infos, problems


__all__ = [
    "FAILED", "FINISHED", "RUNNING", "STOPPED", "INTERRUPTED", "Checkpoint", "Session", "SessionBusy",
    "SessionError", "SessionInfo", "SessionRecord", "SessionStore", "check_name", "new_record",
]
