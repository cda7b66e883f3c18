"""Following a run that another process trains: its session files, turned into trainer events.

The training view consumes TrainingStarted / BatchProgress / EpochFinished / TrainingEnded
whether the trainer runs in the app's own worker or in another process. For another
process, `SessionFollower.poll()` reads what the trainer wrote since the last call —
metrics.jsonl for finished epochs (a half-written last line waits for its newline),
progress.json for the current batch, session.json for the status — and says when the run
ended, or died without saying so (nobody holds its claim any more). It only reads; the one
thing a watcher may write is a command, through `SessionStore.send_control`. Pure Python.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any

from .events import RUNNING, BatchProgress, EpochFinished, TrainerEvent, TrainingEnded, TrainingStarted
from .sessions import INTERRUPTED, PROGRESS_FILE, SESSION_FILE, Session, SessionError, SessionStore

_PROGRESS_FIELDS = {f.name for f in fields(BatchProgress)}
_STARTED_FIELDS = {f.name for f in fields(TrainingStarted)}


@dataclass(frozen=True)
class EpochsReplaced:
    """The session's epochs were rewritten (a resume went back to its checkpoint): show these."""

    rows: list[dict[str, Any]] = field(default_factory=list)


FollowEvent = TrainerEvent | EpochsReplaced


class SessionFollower:
    """Reads one session as it grows. Call `poll()` a few times a second."""

    def __init__(self, store: SessionStore, name: str) -> None:
        self.store = store
        self.name = name
        self.session: Session = store.open(name)  # read-only: raises SessionError if damaged
        self.rows: list[dict[str, Any]] = []
        self._offset = 0
        self._stamps: dict[str, tuple[int, int] | None] = {}
        self._announced_start = False
        self.ended: TrainingEnded | None = None
        self.warnings: list[str] = []

    @property
    def live(self) -> bool:
        return self.session.live

    def _changed(self, file: str) -> bool:
        """Has the file been replaced or grown since we last looked (cheap: one stat)?"""
        try:
            info = os.stat(self.session.path / file, follow_symlinks=False)
            stamp: tuple[int, int] | None = (info.st_mtime_ns, info.st_ino)
        except OSError:
            stamp = None
        if self._stamps.get(file, ()) == stamp:
            return False
        self._stamps[file] = stamp
        return True

    def catch_up(self) -> list[dict[str, Any]]:
        """Every epoch written so far, read at once (to show, not to replay as events)."""
        self._new_epochs()
        return list(self.rows)

    def poll(self) -> list[FollowEvent]:
        events: list[FollowEvent] = []
        live = self.live
        if self._changed(SESSION_FILE):
            try:
                self.session.reload()
            except (SessionError, FileNotFoundError) as exc:  # mid-replace on some filesystems: next time
                self._stamps.pop(SESSION_FILE, None)
                self.warnings.append(str(exc))
        if live and self.ended is not None:  # resumed by someone since it ended: follow the new run
            self.ended, self._announced_start = None, False
        if not self._announced_start and live:
            started = self.session.started
            if started is not None and _STARTED_FIELDS <= set(started):
                events.append(TrainingStarted(**{k: started[k] for k in _STARTED_FIELDS}))
                self._announced_start = True
        events.extend(self._new_epochs())
        if live and self._changed(PROGRESS_FILE):
            progress = self.session.read_progress()
            if progress is not None and _PROGRESS_FIELDS - {"system", "gpu_memory_bytes", "state", "epochs"} <= set(progress):
                events.append(BatchProgress(**{k: v for k, v in progress.items() if k in _PROGRESS_FIELDS}))
        if not live and self.ended is None:
            events.extend(self._new_epochs())  # anything written just before the end
            self.ended = self._how_it_ended()
            events.append(self.ended)
        return events

    def _new_epochs(self) -> list[FollowEvent]:
        try:
            found = self.session.read_new_metrics(self._offset, len(self.rows))
        except SessionError as exc:
            self.warnings.append(str(exc))
            return []
        if found is None:  # rewritten from the start
            try:
                rows, _ = self.session.read_metrics()
            except SessionError as exc:
                self.warnings.append(str(exc))
                return []
            self.rows, self._offset = rows, 0
            found = self.session.read_new_metrics(0, 0)
            self._offset = found[1] if found else 0
            return [EpochsReplaced(list(self.rows))]
        rows, self._offset = found
        self.rows.extend(rows)
        return [EpochFinished(row) for row in rows]

    def _how_it_ended(self) -> TrainingEnded:
        record = self.session.record
        done = len(self.rows)
        if record.status == RUNNING:
            return TrainingEnded(INTERRUPTED, "the training process is gone without a final status (killed, "
                                 f"or its machine went down); --resume continues from epoch "
                                 f"{min(done, self.session.epochs_done)}", self.session.epochs_done)
        return TrainingEnded(record.status, record.reason, self.session.epochs_done)
