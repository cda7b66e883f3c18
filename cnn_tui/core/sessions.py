"""Sessions on disk (SPEC §6). This module owns the layout; nothing else writes it.

    <sessions-dir>/<name>/session.json    what the run is and where it stands (atomic rewrites)
    <sessions-dir>/<name>/metrics.jsonl   one line per finished epoch, appended and fsynced
    <sessions-dir>/<name>/checkpoint.pt   model + optimizer + RNG state (atomic, weights_only)

torch is imported only by the checkpoint methods, so listing sessions stays instant.
"""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from .events import FAILED, FINISHED, RUNNING, STOPPED
from .files import atomic_write_text

if TYPE_CHECKING:
    from .config import TrainConfig
    from .spec import Architecture

SCHEMA_VERSION = 1
SESSION_FILE = "session.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
DEFAULT_SESSIONS_DIR = "sessions"
NAME_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,100}")
INTERRUPTED = "interrupted"  # shown for a "running" session whose process is gone

METRIC_FIELDS = (
    "epoch", "total_loss", "total_correct", "samples", "train_accuracy", "test_loss",
    "test_correct", "test_samples", "test_accuracy", "seconds", "images_per_second", "lr",
    "batches",  # beyond SPEC §6: lets a reader turn total_loss into a mean per batch
)


class SessionError(Exception):
    """A session that cannot be used; the message names the file and what is wrong."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_name(name: str) -> str:
    """Session names are [A-Za-z0-9._-] only, and never '.' or '..'."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or set(name) == {"."}:
        raise SessionError(
            f"invalid session name {name!r}: use 1-100 of A-Z a-z 0-9 . _ - (not just dots)"
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    warnings: list[str] = field(default_factory=list)


class Session:
    """One session folder. Created by `SessionStore.create`, opened by `SessionStore.open`."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self.meta = meta

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def session_file(self) -> Path:
        return self.path / SESSION_FILE

    @property
    def metrics_file(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def checkpoint_file(self) -> Path:
        return self.path / CHECKPOINT_FILE

    # --- session.json ---------------------------------------------------------------

    def update(self, **changes: Any) -> None:
        """Change fields of session.json and rewrite it atomically."""
        self.meta.update(changes)
        self.meta["updated"] = now()
        atomic_write_text(self.session_file, json.dumps(self.meta, indent=2) + "\n")

    def set_status(self, status: str, reason: str | None = None) -> None:
        extra: dict[str, Any] = {"pid": os.getpid(), "host": socket.gethostname()} if status == RUNNING else {}
        self.update(status=status, reason=reason, **extra)

    @property
    def status(self) -> str:
        """The recorded status, or "interrupted" when it says running but its process is gone."""
        status = self.meta.get("status", "?")
        if status == RUNNING and self.meta.get("host") == socket.gethostname():
            pid = self.meta.get("pid")
            if isinstance(pid, int) and pid != os.getpid() and not _pid_alive(pid):
                return INTERRUPTED
        return status

    # --- metrics.jsonl --------------------------------------------------------------

    def append_metrics(self, metrics: dict[str, Any]) -> None:
        """Append one finished epoch and fsync, so a crash right after keeps it."""
        line = json.dumps({key: metrics[key] for key in METRIC_FIELDS}) + "\n"
        with open(self.metrics_file, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def read_metrics(self) -> tuple[list[dict[str, Any]], list[str]]:
        """All finished epochs, and warnings. A torn last line (a crash mid-write) is
        skipped with a warning; a damaged line elsewhere is an error naming the file."""
        try:
            text = self.metrics_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return [], []
        except (OSError, UnicodeDecodeError) as exc:
            raise SessionError(f"{self.metrics_file}: cannot read ({exc})") from None
        rows: list[dict[str, Any]] = []
        warnings: list[str] = []
        lines = text.split("\n")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
                    raise ValueError("not an epoch record")
            except ValueError as exc:
                if all(not rest.strip() for rest in lines[number:]):  # the last line
                    warnings.append(f"{self.metrics_file}: ignored a torn last line ({number})")
                    continue
                raise SessionError(f"{self.metrics_file}: line {number} is damaged ({exc})") from None
            rows.append(row)
        return rows, warnings

    def truncate_metrics(self, epochs: int) -> None:
        """Keep only epochs < `epochs` (used when resuming from an older checkpoint); a torn
        last line is dropped too, so the lines appended next do not follow it."""
        rows, torn = self.read_metrics()
        kept = [row for row in rows if row["epoch"] < epochs]
        if len(kept) != len(rows) or torn:
            atomic_write_text(self.metrics_file, "".join(json.dumps(row) + "\n" for row in kept))

    # --- checkpoint.pt --------------------------------------------------------------

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """torch.save to a temporary file, fsync, rename: never a half-written checkpoint."""
        import torch

        fd, tmp = tempfile.mkstemp(prefix=".checkpoint.", suffix=".tmp", dir=self.path)
        try:
            with os.fdopen(fd, "wb") as handle:
                torch.save(state, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.checkpoint_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load_checkpoint(self) -> dict[str, Any]:
        """The checkpoint, loaded with weights_only=True; damage is named, not raised raw."""
        import torch

        if not self.checkpoint_file.exists():
            raise SessionError(f"{self.checkpoint_file}: no checkpoint yet (no epoch has finished)")
        try:
            state = torch.load(self.checkpoint_file, map_location="cpu", weights_only=True)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SessionError(f"{self.checkpoint_file}: not a cnn-tui checkpoint ({first[:160]})") from None
        expected = {"model", "optimizer", "epoch", "rng"}
        if not isinstance(state, dict) or not expected <= set(state):
            raise SessionError(f"{self.checkpoint_file}: not a cnn-tui checkpoint (missing {sorted(expected - set(state) if isinstance(state, dict) else expected)})")
        return state

    # --- summary ----------------------------------------------------------------------

    def info(self) -> SessionInfo:
        rows, warnings = self.read_metrics()
        accuracies = [row["test_accuracy"] for row in rows if isinstance(row.get("test_accuracy"), (int, float))]
        return SessionInfo(
            name=self.name,
            status=self.status,
            reason=self.meta.get("reason"),
            dataset=str(self.meta.get("dataset", "?")),
            epochs_done=len(rows),
            epochs_target=int(self.meta.get("config", {}).get("epochs", 0) or 0),
            best_test_accuracy=max(accuracies) if accuracies else None,
            updated=str(self.meta.get("updated", "")),
            warnings=warnings,
        )


def session_meta(arch: "Architecture", config: "TrainConfig", device: str, exact: bool = False) -> dict[str, Any]:
    """What session.json says about a run before it trains: the one place this is assembled."""
    from .shapes import infer_shapes

    summary = infer_shapes(arch, config.input)
    return {
        "architecture": arch.with_input(config.input).to_dict(),
        "config": config.to_json(),
        "dataset": config.dataset,
        "device": device,
        "exact": exact,
        "epochs_done": 0,
        "summary": {"total_params": summary.total_params, "total_macs": summary.total_macs,
                    "counted_layers": summary.counted_layers},
    }


class SessionStore:
    """The sessions directory: create, open, list. Paths never leave it."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root or DEFAULT_SESSIONS_DIR)

    def path(self, name: str) -> Path:
        path = self.root / check_name(name)
        if path.resolve().parent != self.root.resolve():  # belt and braces over the pattern
            raise SessionError(f"invalid session name {name!r}: it leaves {self.root}")
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

    def create(self, name: str, meta: dict[str, Any]) -> Session:
        """A new session folder with its session.json; refuses to overwrite another."""
        path = self.path(name)
        if (path / SESSION_FILE).exists():
            raise SessionError(
                f"session {name!r} already exists in {self.root}; use --resume to continue it or pick another name"
            )
        path.mkdir(parents=True, exist_ok=True)
        (path / METRICS_FILE).unlink(missing_ok=True)
        (path / CHECKPOINT_FILE).unlink(missing_ok=True)
        session = Session(path, {
            "schema_version": SCHEMA_VERSION,
            "name": name,
            "created": now(),
            "updated": now(),
            "status": RUNNING,
            "reason": None,
            "versions": library_versions(),
            **meta,
        })
        session.set_status(RUNNING)
        return session

    def open(self, name: str) -> Session:
        path = self.path(name)
        file = path / SESSION_FILE
        if not file.exists():
            raise SessionError(f"no session {name!r} in {self.root} (no {file})")
        try:
            meta = json.loads(file.read_text(encoding="utf-8"))
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            raise SessionError(f"{file}: damaged ({exc})") from None
        if not isinstance(meta, dict) or meta.get("schema_version") != SCHEMA_VERSION:
            raise SessionError(f"{file}: not a cnn-tui session (schema_version {meta.get('schema_version') if isinstance(meta, dict) else None!r})")
        for key in ("architecture", "config"):
            if not isinstance(meta.get(key), dict):
                raise SessionError(f"{file}: damaged (no {key})")
        meta["name"] = name
        return Session(path, meta)

    def list(self) -> tuple[list[SessionInfo], list[str]]:
        """Every readable session (newest first), and one problem line per damaged one."""
        infos: list[SessionInfo] = []
        problems: list[str] = []
        if not self.root.is_dir():
            return infos, problems
        for path in sorted(self.root.iterdir()):
            if not path.is_dir() or not NAME_PATTERN.fullmatch(path.name) or path.name.startswith("."):
                continue
            if not (path / SESSION_FILE).exists():
                continue
            try:
                infos.append(self.open(path.name).info())
            except SessionError as exc:
                problems.append(str(exc))
        infos.sort(key=lambda info: info.updated, reverse=True)
        return infos, problems


__all__ = [
    "FAILED", "FINISHED", "RUNNING", "STOPPED", "INTERRUPTED", "Session", "SessionError",
    "SessionInfo", "SessionStore", "check_name",
]
