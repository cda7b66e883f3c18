"""The training controller: the worker that trains in this process, its control (pause,
stop, quit, a lost terminal), and runs followed in another process (background runs, watch).

`TrainingController` is mixed into the app (cnn_tui.ui.app.CnnTuiApp). Training runs in one
Textual thread worker that drives the headless trainer; every torch operation happens in that
thread. The worker only posts messages (TrainerUpdate); the training pane is updated here, on
the event loop. A followed run's files are turned into the same messages.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any

from textual import work
from textual.message import Message
from textual.worker import Worker, WorkerState

from ..core.config import TrainConfig
from ..core.events import (
    FAILED,
    BatchProgress,
    EpochFinished,
    EpochStarted,
    TrainerEvent,
    TrainingControl,
    TrainingEnded,
    TrainingStarted,
)
from ..core.distributed import split_note
from ..core.follow import EpochsReplaced, SessionFollower
from ..core.sessions import SessionError
from ..core.spec import Architecture
from ..terminal import detach_from_terminal
from ..words import worded
from .collector import settle_garbage_collector
from .screens.confirm import ConfirmScreen
from .session_actions import ShownSession

QUIT_GRACE_SECONDS = 20  # how long quitting waits for the current batch before leaving anyway


@dataclass
class TrainerUpdate(Message):
    """A trainer event, carried from the worker thread to the event loop."""

    event: TrainerEvent


class TrainingController:
    """The app's training keys: t, b, p, s, q; the worker, its control, and following."""

    # --- following a run in another process -------------------------------------------

    FOLLOW_INTERVAL = 0.25  # seconds between looks at the session's files

    @property
    def following(self) -> bool:
        """Is the training pane showing a run that another process is training right now?"""
        return self.follower is not None and self.follower.ended is None

    def _follow(self, name: str) -> None:
        """Feed the training pane from the session's files as they grow."""
        try:
            follower = SessionFollower(self.store, name)
            self.pane.show_epochs(follower.catch_up())
        except SessionError as exc:
            self.notify(str(exc), title=f"cannot watch {name}", severity="error", markup=False)
            return
        self.follower = follower
        self.show_the_run()
        if follower.live:
            self.pane.config_form.set_disabled(True)
            self.pane.set_state("starting", "watching a run in another process: p pauses, s stops")
        self._poll_follower()
        if follower.ended is None:
            self._follow_timer = self.set_interval(self.FOLLOW_INTERVAL, self._poll_follower)

    def _poll_follower(self) -> None:
        if self.follower is None:
            return
        for event in self.follower.poll():
            self.post_message(TrainerUpdate(event))
        if self.follower.ended is not None and self._follow_timer is not None:
            self._follow_timer.stop()
            self._follow_timer = None
            self.pane.config_form.set_disabled(False)

    def _stop_following(self) -> None:
        if self._follow_timer is not None:
            self._follow_timer.stop()
            self._follow_timer = None
        if self.follower is not None:
            self.follower = None
            self.pane.config_form.set_disabled(False)

    def _send_to_followed(self, command: str) -> None:
        assert self.follower is not None
        try:
            self.store.send_control(self.follower.name, command)
        except SessionError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        self.pane.set_state(self.pane.acknowledged, f"{command} sent; waiting for the trainer to confirm")

    def _cannot_train(self) -> bool:
        """Say why the editor's network or settings cannot train, when they cannot."""
        problem = self.arch_error or self.config_error
        if problem:
            self.notify(problem, title="cannot train", severity="error", timeout=8, markup=False)
        return bool(problem)

    def action_train_background(self) -> None:
        """Train the editor's network and configuration in a background process that
        outlives this terminal (more epochs of the shown session when they continue it),
        and watch it here."""
        if self.training or self.following:
            self.notify("a run is already shown here: s stops it", severity="warning", markup=False)
            return
        if self._cannot_train():
            return
        arch = self.editor.architecture()
        name = self._session_to_continue(arch)
        if name is False:
            return
        processes = "" if self.processes == "1" else f" in {self.processes} processes"
        self.pane.set_state("starting", f"starting a background run{processes}")
        if self.processes.isdigit() and (note := split_note(self.config.batch_size, int(self.processes))):
            self.notify(note, timeout=8, markup=False)
        self.start_background_run(arch, self.config, name or None, self.processes)

    def _session_to_continue(self, arch: Architecture) -> str | None | bool:
        """The shown session when the editor's network and settings continue it; None for a
        new session; False (and a notice) when it has its epochs already."""
        resume = self.shown is not None and self.shown.continues_with(arch, self.config)
        if not resume or self.shown is None:
            if self.shown is not None:
                self.notify(f"network or settings differ from session {self.shown.name}: training a new session",
                            markup=False)
            return None
        if self.shown.epochs_done >= self.config.epochs:
            self.notify(f"session {self.shown.name} already has {self.shown.epochs_done} epochs; raise epochs to "
                        "continue it", severity="warning", markup=False)
            return False
        return self.shown.name

    @work(thread=True, exclusive=True, group="background", exit_on_error=False, description="start background run")
    def start_background_run(self, arch: Architecture, config: TrainConfig, name: str | None = None,
                             processes: str = "1") -> None:
        from ..core.background import start_background
        from ..core.distributed import Launch
        from ..core.prepare import TrainingRefused

        launch = Launch(processes) if processes != "1" else None
        try:
            run = start_background(arch, config, self.store, name, launch=launch, resume=name is not None)
        except TrainingRefused as exc:
            self.call_from_thread(self._background_refused, worded(exc, "app"))
            return
        self.call_from_thread(self._background_started, run.name, run.pid)

    def _background_refused(self, reason: str) -> None:
        self.pane.set_state("idle", reason, problem=True)
        self.notify(reason, title="cannot train", severity="error", timeout=8, markup=False)

    async def _background_started(self, name: str, pid: int) -> None:
        self.notify(f"session {name} trains in the background (pid {pid}); it goes on if this terminal closes. "
                    f"Watch it from any login: cnn-tui watch {name}", timeout=10, markup=False)
        self.pane.show_epochs([])
        await self.load_session(name)
        if self.follower is None:  # it ended before we looked: show how
            self._follow(name)

    # --- training ---------------------------------------------------------------------

    def action_train(self) -> None:
        if self.following:
            self.notify("this session is training in another process: s stops it, o opens another",
                        severity="warning", markup=False)
            return
        if self.training:
            if self.control is not None and self.control.paused:
                self.notify("paused: p resumes, s stops", severity="warning", markup=False)
            else:
                self.notify("already training: p pauses, s stops", severity="warning", markup=False)
            return
        if self._cannot_train():
            return
        if self.processes != "1":  # several processes: torchrun, in a process of their own
            self.action_train_background()
            return
        arch = self.editor.architecture()
        name = self._session_to_continue(arch)
        if name is False:
            return
        resume = name is not None
        if not resume:
            self.pane.show_epochs([])
        self._stop_following()
        self._run = (arch, self.config)
        self.editor.mark_saved()  # the session keeps the architecture
        self.control = TrainingControl()
        self.training = True
        self.pane.config_form.set_disabled(True)
        self.pane.set_state("starting", "loading data and building the model")
        self.show_the_run()
        self.run_training(arch, self.config, name, resume, self.control)

    @work(thread=True, exclusive=True, group="training", exit_on_error=False, description="training")
    def run_training(self, arch: Architecture, config: TrainConfig, name: str | None, resume: bool,
                     control: TrainingControl) -> None:
        from ..core.trainer import (  # torch is imported here, in this thread
            TrainingRefused,
            train,
        )

        try:
            train(arch, config, self.store, name, resume, lambda event: self.post_message(TrainerUpdate(event)), control)
        except TrainingRefused as exc:
            self.post_message(TrainerUpdate(TrainingEnded("refused", str(exc), 0, user_error=True, problem=exc)))

    def on_trainer_update(self, message: TrainerUpdate) -> None:
        event = message.event
        if isinstance(event, EpochsReplaced):
            self.pane.show_epochs(event.rows)
        elif isinstance(event, BatchProgress):
            self.pane.progress(event)
        elif isinstance(event, EpochStarted):
            self.pane.epoch_started(event)
        elif isinstance(event, EpochFinished):
            self.pane.epoch_finished(event.metrics)
            if self.shown is not None:
                self.shown.epochs_done = event.epoch + 1
        elif isinstance(event, TrainingStarted):
            settle_garbage_collector()  # the trainer's imports and data are in: long-lived
            self.pane.started(event)
            if self._run is not None and not self.following:  # a run this app started
                self.shown = ShownSession(event.session, *self._run, event.start_epoch)
                for note in self._run[1].notes_at_start(event.device, event.train_samples):
                    self.notify(note.for_audience("app"), severity="warning", timeout=8, markup=False)
        elif isinstance(event, TrainingEnded) and self.follower is not None and not self.training:
            self.pane.ended(event)
            if event.status in (FAILED, "interrupted"):
                self.notify(event.reason or "", title=f"session {self.follower.name}: {event.status}",
                            severity="error", timeout=15, markup=False)
        elif isinstance(event, TrainingEnded):
            self._training_over()
            if event.status == "refused":
                self.pane.set_state("idle", event.reason_for("app"), problem=True)
                self.notify(event.reason_for("app"), title="cannot train", severity="error", timeout=8, markup=False)
            else:
                self.pane.ended(event)
                if event.status == FAILED:
                    self.notify(event.reason_for("app"), title="training failed", severity="error", timeout=15,
                                markup=False)
            if self.quitting:
                self.exit(0)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """One place for a worker that died of an unexpected error: say so, stay usable."""
        if event.worker.group == "training" and event.state == WorkerState.ERROR:
            self._training_over()
            error = event.worker.error
            self.pane.set_state("failed", f"{type(error).__name__}: {error}", problem=True)
            self.notify(f"{type(error).__name__}: {error}", title="training crashed", severity="error", timeout=15, markup=False)
            if self.quitting:
                self.exit(1)

    def _training_over(self) -> None:
        self.training = False
        self.pane.config_form.set_disabled(False)

    def action_pause(self) -> None:
        if self.following:
            self._send_to_followed("resume" if self.pane.acknowledged == "paused" else "pause")
            return
        if not self.training or self.control is None:
            self.notify("not training", severity="warning", markup=False)
            return
        paused = self.control.toggle_pause()
        self.pane.set_state("paused" if paused else "training", "p resumes" if paused else "")

    def action_stop(self) -> None:
        if self.following:
            self._send_to_followed("stop")
            return
        if not self.training or self.control is None:
            self.notify("not training", severity="warning", markup=False)
            return
        self.control.stop()
        self.pane.set_state("stopping", "after the current batch")

    async def action_quit(self) -> None:
        """Quit; a run in progress is stopped first so its session stays resumable."""
        if self.training and self.control is not None:
            if self.quitting:  # pressed again: leave now (the checkpoint of the last epoch is safe)
                self.exit(0)
                return
            self.quitting = True
            self.control.stop()
            self.pane.set_state("stopping", "quitting after the current batch (q again to leave now)")
            self.set_timer(QUIT_GRACE_SECONDS, lambda: self.exit(0))
            return
        if self.editor.unsaved:
            def leave(yes: bool | None) -> None:
                if yes:
                    self.exit(0)

            self.push_dialog(ConfirmScreen("quit and lose the unsaved edits to the network?",
                                           "ctrl+s saves a session, w writes a JSON file"), leave)
            return
        self.exit(0)

    def on_unmount(self) -> None:
        if self.control is not None and not self.terminal_lost:  # never leave a training thread behind
            self.control.stop()
        if hasattr(self, "_previous_hup"):
            signal.signal(signal.SIGHUP, self._previous_hup)

    # --- a terminal that goes away (SSH dropped, tmux killed) --------------------------

    def _on_hangup(self, signum: int, frame: Any) -> None:
        """The terminal hung up. A run in this process trains on to its end, silently: the
        screen goes, the worker stays (run_app returns once it is done); the session
        records that its terminal was lost. A run in another process was never at risk."""
        self.terminal_lost = True
        detach_from_terminal()
        if self.training and self.control is not None:
            self.control.terminal_lost.set()
        self.exit(0)
