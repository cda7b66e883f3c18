"""The cnn-tui app: the architecture editor beside the live trainer.

Training runs in one Textual thread worker that drives the headless trainer; every torch
operation (the import, data, model, training) happens in that thread, so torch keeps a single
OpenMP pool and the event loop never waits on tensor work. The worker only posts messages;
widgets are touched on the event loop, in the handlers below.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Footer
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
from ..core.follow import EpochsReplaced, SessionFollower
from ..core.presets import DEFAULT_PRESET, PRESET_NAMES, preset
from ..core.sessions import STOPPED, SessionError, SessionStore, session_meta
from ..core.spec import LAYER_TYPES, Architecture, ArchitectureError
from ..terminal import detach_from_terminal
from ..words import count
from .editor.pane import EditorPane
from .screens.help import HelpScreen
from .screens.confirm import ConfirmScreen
from .screens.prompt import TextPrompt
from .screens.sessions import SessionsScreen
from .screens.pick import PickScreen
from .training.config_form import ConfigForm
from .training.pane import TrainingPane

NARROW_WIDTH = 110  # below this, one pane at a time (v switches)
EDITOR_MIN_WIDTH = 56  # the editor's layer form needs this much
TRAINING_MIN_WIDTH = 48  # the training pane's form, progress and epoch table fit in this
QUIT_GRACE_SECONDS = 20  # how long quitting waits for the current batch before leaving anyway


@dataclass
class TrainerUpdate(Message):
    """A trainer event, carried from the worker thread to the event loop."""

    event: TrainerEvent


@dataclass
class DeviceProbed(Message):
    text: str
    gpu_total: int | None


@dataclass
class ShownSession:
    """The session the training pane shows (trained here, opened or saved) and what it is."""

    name: str
    arch: Architecture
    config: TrainConfig
    epochs_done: int

    def continues_with(self, arch: Architecture, config: TrainConfig) -> bool:
        """Does training `arch` with `config` continue this session (vs start a new one)?
        Only the epoch target, the device and the thread count may differ."""
        def settings(c: TrainConfig) -> dict:
            return {**c.to_json(), "epochs": None, "device": None, "threads": None}

        return arch.layers == self.arch.layers and settings(config) == settings(self.config)


class CnnTuiApp(App[int]):
    TITLE = "cnn-tui"
    CSS = """
    #panes { height: 1fr; }
    EditorPane { width: 67; border-right: vkey $foreground 20%; }
    TrainingPane { width: 1fr; }
    Screen.-narrow EditorPane { border-right: none; width: 1fr; }
    Screen.-narrow #charts { layout: horizontal; }
    Screen.-narrow ConfigForm { grid-size: 8; }
    Screen.-narrow TrainingPane { display: none; }
    Screen.-narrow.-show-training EditorPane { display: none; }
    Screen.-narrow.-show-training TrainingPane { display: block; }
    """
    BINDINGS = [
        Binding("t", "train", "train"),
        Binding("b", "train_background", "background"),
        Binding("p", "pause", "pause"),
        Binding("s", "stop", "stop"),
        Binding("a", "add_layer", "add"),
        Binding("d", "delete_layer", "delete"),
        Binding("left_square_bracket", "move_layer(-1)", "up", show=False),
        Binding("right_square_bracket", "move_layer(1)", "down", show=False),
        Binding("c", "duplicate_layer", "copy", show=False),
        Binding("ctrl+z", "undo", "undo", show=False),
        Binding("ctrl+y", "redo", "redo", show=False),
        Binding("r", "preset", "preset", show=False),
        Binding("ctrl+s", "save_session", "save"),
        Binding("o", "open_session", "open"),
        Binding("l", "load_architecture", "load", show=False),
        Binding("w", "write_architecture", "write", show=False),
        Binding("v", "toggle_pane", "pane"),
        Binding("escape", "focus_layers", "back", show=False),
        Binding("question_mark", "help", "help"),
        Binding("q", "quit", "quit"),
        Binding("ctrl+q", "quit", "quit", show=False, priority=True),
    ]

    def __init__(
        self,
        arch: Architecture | None = None,
        config: TrainConfig | None = None,
        session: str | None = None,
        sessions_dir: str | None = None,
        arch_source: str | None = None,
        probe_device: bool = True,
        watch: bool = False,
    ) -> None:
        super().__init__()
        self.initial_arch = arch or preset(DEFAULT_PRESET).with_input(None)  # follows the dataset
        self.config = (config or TrainConfig()).for_architecture(self.initial_arch)
        self.arch_source = arch_source or (f"preset {DEFAULT_PRESET}" if arch is None else "file")
        self.initial_session = session
        self.store = SessionStore(sessions_dir)
        self.probe = probe_device
        self.control: TrainingControl | None = None
        self.training = False
        self.quitting = False
        self.arch_error: str | None = None
        self.config_error: str | None = None
        self.shown: ShownSession | None = None  # the session the training pane shows
        self._run: tuple[Architecture, TrainConfig] | None = None  # what the worker is training
        self.last_path = "architecture.json"  # what l and w offer: the last file named
        self.watch_initial = watch  # `cnn-tui watch NAME`: follow the session even if it has ended
        self.follower: SessionFollower | None = None  # a run in another process, followed
        self._follow_timer: Any = None
        self.terminal_lost = False

    # --- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="panes"):
            yield EditorPane(self.initial_arch, self.config.input,
                             self.config.classes, self.config.dataset, self.config.batch_size,
                             source=self.arch_source, id="editor")
            yield TrainingPane(self.config, id="training")
        yield Footer()

    @property
    def editor(self) -> EditorPane:
        return self.query_one(EditorPane)

    @property
    def pane(self) -> TrainingPane:
        return self.query_one(TrainingPane)

    async def on_mount(self) -> None:
        if hasattr(signal, "SIGHUP"):
            self._previous_hup = signal.signal(signal.SIGHUP, self._on_hangup)
        self.query_one("#layers").focus()
        self._fit_layout(self.size.width)
        if self.initial_session:
            await self.load_session(self.initial_session)
        if self.probe:  # after the first frame: torch's import must not delay it
            self.set_timer(0.5, self.probe_device)

    def on_resize(self, event: Any) -> None:
        self._fit_layout(event.size.width)

    def _fit_layout(self, width: int) -> None:
        """Narrow: one pane at a time. Wide: the editor as wide as its table needs (within
        what leaves the training pane usable); the training pane takes the rest."""
        narrow = width < NARROW_WIDTH
        self.screen.set_class(narrow, "-narrow")
        editor = None if narrow else max(EDITOR_MIN_WIDTH, min(self.editor.wanted_width(), width - TRAINING_MIN_WIDTH))
        current = self.editor.styles.width
        if (current.value if current is not None else None) != editor:
            self.editor.styles.width = editor  # None: the stylesheet's (narrow: the whole screen)

    def action_toggle_pane(self) -> None:
        """The other pane: its first control gets the focus (narrow: it is shown instead)."""
        if self.pane in self.focused_ancestors():
            self.show_editor()
        else:
            self.show_training(focus="#dataset")

    def focused_ancestors(self) -> list:
        return list(self.focused.ancestors_with_self) if self.focused is not None else []

    def show_training(self, focus: str) -> None:
        self.screen.add_class("-show-training")
        self.query_one(focus).focus()

    def action_focus_layers(self) -> None:
        """escape: out of a training field to the epoch table; otherwise to the layers."""
        if self.pane in self.focused_ancestors() and self.focused is not self.query_one("#epochs"):
            self.query_one("#epochs").focus()
            return
        self.show_editor()

    def show_editor(self) -> None:
        self.screen.remove_class("-show-training")
        self.query_one("#layers").focus()

    def action_help(self) -> None:
        self.clear_notifications()  # a notice would cover the help text
        self.push_screen(HelpScreen())

    # --- the device (probed in a thread; the trainer reports what it really used) -----

    @work(thread=True, group="probe", exit_on_error=False, description="probe device")
    def probe_device(self) -> None:
        import torch  # in a worker thread, never on the event loop

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            self.post_message(DeviceProbed(f"auto → cuda · {props.name}", props.total_memory))
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            self.post_message(DeviceProbed("auto → mps", None))
        else:
            self.post_message(DeviceProbed(f"auto → cpu · {count(torch.get_num_threads(), 'thread')}", None))

    def on_device_probed(self, message: DeviceProbed) -> None:
        if not self.training:
            self.pane.set_device(message.text, message.gpu_total)
            self._show_idle_state()

    # --- keeping editor, configuration and state in step ------------------------------

    async def on_editor_pane_architecture_changed(self, message: EditorPane.ArchitectureChanged) -> None:
        self.arch_error = None if message.summary.ok else str(message.summary.error)
        self._show_idle_state()
        self._fit_layout(self.size.width)  # the table's needs may have changed

    async def on_config_form_changed(self, message: ConfigForm.Changed) -> None:
        self.config_error = message.error
        if message.config is not None:
            old, self.config = self.config, message.config
            if (old.dataset, old.input_shape) != (self.config.dataset, self.config.input_shape):
                await self.editor.set_dataset(self.config.input, self.config.classes, self.config.dataset)
            if old.batch_size != self.config.batch_size:
                await self.editor.set_batch_size(self.config.batch_size)
        self._show_idle_state()

    def _show_idle_state(self) -> None:
        if self.training or self.following:
            return
        ended = self.follower.ended if self.follower is not None else None
        if ended is not None and not (self.arch_error or self.config_error):  # a watched run that is over
            self.pane.set_state(ended.status, ended.reason or f"{ended.epochs_done} epochs · t continues it",
                                problem=ended.status in (FAILED, "interrupted"))
            return
        if self.arch_error:
            self.pane.set_state("idle", f"cannot train: {self.arch_error}", problem=True)
        elif self.config_error:
            self.pane.set_state("idle", f"cannot train: {self.config_error}", problem=True)
        elif self.shown:
            self.pane.set_state("idle", f"session {self.shown.name}: {count(self.shown.epochs_done, 'epoch')} · t trains")
        else:
            self.pane.set_state("idle", "press t to train")

    # --- editing keys -----------------------------------------------------------------

    def action_add_layer(self) -> None:
        options = [(name, name) for name in LAYER_TYPES]

        async def add(choice: str | None) -> None:
            if choice:
                await self.editor.insert_layer(choice)
                self.query_one("#layers").focus()

        self.push_screen(PickScreen("add which layer below the selected one?", options), add)

    def action_delete_layer(self) -> None:
        index = self.editor.selected
        if index is None:
            self.notify("no layer to delete", severity="warning", markup=False)
            return
        layer_type = self.editor.draft.layers[index]["type"]

        async def delete(yes: bool | None) -> None:
            if yes:
                await self.editor.delete_layer()

        self.push_screen(ConfirmScreen(f"delete layer {index} ({layer_type})?", "ctrl+z brings it back"), delete)

    async def action_move_layer(self, delta: int) -> None:
        await self.editor.move_layer(delta)

    async def action_duplicate_layer(self) -> None:
        await self.editor.duplicate_layer()

    async def action_undo(self) -> None:
        if not await self.editor.undo():
            self.notify("nothing to undo", severity="warning", markup=False)

    async def action_redo(self) -> None:
        if not await self.editor.redo():
            self.notify("nothing to redo", severity="warning", markup=False)

    def action_preset(self) -> None:
        async def load(name: str | None) -> None:
            if name:
                await self.editor.load(preset(name), f"preset {name}")

        def pick(yes: bool | None = True) -> None:
            if yes:
                self.push_screen(PickScreen("replace the architecture with a preset", [(n, n) for n in PRESET_NAMES]), load)

        self._confirm_replacing("replace the whole network with a preset?", pick)

    def _confirm_replacing(self, question: str, then: Any) -> None:
        """Run `then(True)` at once when nothing is lost, else after the person says yes."""
        if self.editor.unsaved:
            self.push_screen(ConfirmScreen(question, "the network has unsaved edits (ctrl+z undoes a replace)"), then)
        else:
            then(True)

    def action_load_architecture(self) -> None:
        async def load(path: str | None) -> None:
            if not path:
                return
            self.last_path = path
            try:  # read and checked in a thread: a large file never stalls the screen
                arch = await asyncio.to_thread(Architecture.load, path)
            except ArchitectureError as exc:
                self.notify(str(exc), title="cannot load", severity="error", markup=False)
                return
            except Exception as exc:  # noqa: BLE001 - e.g. nesting too deep to read: a notice, never an exit
                self.notify(f"{path}: {type(exc).__name__}: {str(exc)[:200]}", title="cannot load",
                            severity="error", markup=False)
                return
            if await self.editor.load(arch, Path(path).name):
                self.notify(f"loaded {path}", markup=False)

        def ask(yes: bool | None = True) -> None:
            if yes:
                self.push_screen(TextPrompt("load an architecture JSON file", self.last_path), load)

        self._confirm_replacing("load a file in place of the network?", ask)

    def action_write_architecture(self) -> None:
        try:
            arch = self.editor.architecture()
        except ArchitectureError as exc:
            self.notify(str(exc), title="fix this first", severity="error", markup=False)
            return

        def write_to(path: str) -> None:
            try:
                arch.save(path)
            except OSError as exc:
                self.notify(describe_write_error(path, exc), title="cannot write", severity="error", markup=False)
                return
            self.editor.mark_saved()
            self.notify(f"wrote {path}", markup=False)

        def confirmed(path: str, yes: bool | None) -> None:
            if yes:
                write_to(path)

        def ask(path: str | None) -> None:
            if not path:
                return
            self.last_path = path
            if Path(path).is_dir():
                self.notify(f"{path} is a folder; give a file name in it", title="cannot write", severity="error", markup=False)
            elif Path(path).exists():
                self.push_screen(ConfirmScreen(f"{path} exists. Replace it?"), lambda yes: confirmed(path, yes))
            else:
                write_to(path)

        self.push_screen(TextPrompt("write the architecture to", self.last_path), ask)

    # --- sessions ---------------------------------------------------------------------

    @property
    def session_name(self) -> str | None:
        return self.shown.name if self.shown else None

    def action_save_session(self) -> None:
        """Save the editor's architecture and configuration as a session, not trained yet."""
        if self.training:
            self.notify(f"session {self.session_name} is saved as it trains", markup=False)
            return
        problem = self.arch_error or self.config_error
        if problem:
            self.notify(problem, title="cannot save", severity="error", markup=False)
            return
        arch, config = self.editor.architecture(), self.config

        def save(name: str | None) -> None:
            if not name:
                return
            try:
                session = self.store.create(name, session_meta(arch, config, config.device))
                session.set_status(STOPPED, "saved from the editor; not trained yet")
            except (SessionError, OSError) as exc:
                self.notify(str(exc), title="cannot save", severity="error", markup=False)
                return
            self.shown = ShownSession(name, arch, config, 0)
            self.pane.show_epochs([])  # the saved session has no epochs yet
            self.pane.set_title(f"Training · session {name}")
            self.editor.mark_saved()
            self._show_idle_state()
            self.notify(f"saved session {name} in {self.store.root}", markup=False)

        self.push_screen(TextPrompt("save as a session named", self.store.new_name("draft"),
                                    "letters, digits, . _ - only"), save)

    def action_open_session(self) -> None:
        if self.training:
            self.notify("stop training before opening another session", severity="warning", markup=False)
            return
        self.list_sessions()

    @work(thread=True, exclusive=True, group="sessions", exit_on_error=False, description="list sessions")
    def list_sessions(self) -> None:
        """Read every session (and its metrics) off the event loop; then offer the list."""
        infos, problems = self.store.list()
        self.call_from_thread(self._pick_session, infos, problems)

    def _pick_session(self, infos: list, problems: list[str]) -> None:
        if not infos and not problems:
            self.notify(f"no sessions in {self.store.root} yet", severity="warning", markup=False)
            return
        options = [
            (info.name, f"{info.name}  {info.status}  {info.epochs_done}/{info.epochs_target} epochs  "
                        + (f"best {info.best_test_accuracy:.4f}  " if info.best_test_accuracy is not None else "")
                        + info.dataset)
            for info in infos
        ]
        notes = [f"skipped: {p}" for p in problems]

        async def act(choice: str | None) -> None:
            if not choice:
                return
            action, name = choice.split(":", 1)
            if action == "open":
                self._confirm_replacing(f"open session {name} in place of the network?",
                                        lambda yes=True: self._open_chosen(name) if yes else None)
            elif action == "rename":
                self.push_screen(TextPrompt(f"rename session {name} to", name, "letters, digits, . _ - only"),
                                 lambda new: self._rename_session(name, new))
            elif action == "delete":
                self.push_screen(ConfirmScreen(f"delete session {name} and everything in it?",
                                               "its metrics and checkpoint go too; this cannot be undone"),
                                 lambda yes: self._delete_session(name) if yes else None)

        self.push_screen(SessionsScreen(f"sessions in {self.store.root}", options, notes), act)

    def _open_chosen(self, name: str) -> None:
        self.run_worker(self.load_session(name), group="open", exclusive=True, exit_on_error=False)

    def _rename_session(self, old: str, new: str | None) -> None:
        if not new or new == old:
            return
        try:
            self.store.rename(old, new)
        except (SessionError, OSError) as exc:
            self.notify(str(exc), title=f"cannot rename {old}", severity="error", timeout=10, markup=False)
            return
        if self.shown is not None and self.shown.name == old:
            self.shown.name = new
            self.pane.set_title(f"Training · session {new}")
            self._show_idle_state()
        self.notify(f"renamed session {old} to {new}", markup=False)
        self.list_sessions()  # back to the list, showing the new name

    def _delete_session(self, name: str) -> None:
        try:
            self.store.delete(name)
        except (SessionError, OSError) as exc:
            self.notify(str(exc), title=f"cannot delete {name}", severity="error", timeout=10, markup=False)
            return
        if self.shown is not None and self.shown.name == name:
            self.shown = None
            self.pane.show_epochs([])
            self.pane.set_title("Training")
            self._show_idle_state()
        self.notify(f"deleted session {name}", markup=False)
        self.list_sessions()

    async def load_session(self, name: str) -> None:
        """Show a saved session: its architecture, configuration, table and charts."""
        try:
            session = self.store.open(name)
            rows, warnings = session.read_metrics()
            arch = Architecture.from_dict(session.meta["architecture"])
            config = TrainConfig.from_json(session.meta["config"]).for_architecture(arch)
            config.validate()
        except (SessionError, ArchitectureError, ValueError, TypeError) as exc:
            self.notify(str(exc), title=f"cannot open session {name}", severity="error", timeout=10, markup=False)
            return
        for warning in warnings:
            self.notify(warning, severity="warning", markup=False)
        self.pane.config_form.load(config)
        self.config = config
        await self.editor.set_dataset(config.input, config.classes, config.dataset)
        await self.editor.set_batch_size(config.batch_size)
        await self.editor.load(arch, f"session {name}")
        self.shown = ShownSession(name, arch, config, len(rows))
        self.pane.show_epochs(rows)
        self.pane.set_title(f"Training · session {name} ({session.status})")
        self.pane.set_device(f"last run on {session.meta.get('device', '?')}")
        self._stop_following()
        if session.live or self.watch_initial:
            self.watch_initial = False
            self._follow(name)
            return
        self._show_idle_state()
        if session.meta.get("reason"):
            self.notify(session.meta["reason"], title=f"session {name}: {session.status}", markup=False)

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
        outlives this terminal, and watch it here."""
        if self.training or self.following:
            self.notify("a run is already shown here: s stops it", severity="warning", markup=False)
            return
        if self._cannot_train():
            return
        self.pane.set_state("starting", "starting a background run")
        self.start_background_run(self.editor.architecture(), self.config)

    @work(thread=True, exclusive=True, group="background", exit_on_error=False, description="start background run")
    def start_background_run(self, arch: Architecture, config: TrainConfig) -> None:
        from ..core.background import start_background
        from ..core.prepare import TrainingRefused

        try:
            run = start_background(arch, config, self.store)
        except TrainingRefused as exc:
            self.call_from_thread(self._background_refused, str(exc))
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
        arch = self.editor.architecture()
        resume = self.shown is not None and self.shown.continues_with(arch, self.config)
        name = self.shown.name if resume and self.shown else None
        if resume and self.shown and self.shown.epochs_done >= self.config.epochs:
            self.notify(f"session {name} already has {self.shown.epochs_done} epochs; raise epochs to continue it",
                        severity="warning", markup=False)
            return
        if not resume:
            if self.shown is not None:
                self.notify(f"network or settings differ from session {self.shown.name}: training a new session",
                            markup=False)
            self.pane.show_epochs([])
        self._stop_following()
        self._run = (arch, self.config)
        self.editor.mark_saved()  # the session keeps the architecture
        self.control = TrainingControl()
        self.training = True
        self.pane.config_form.set_disabled(True)
        self.pane.set_state("starting", "loading data and building the model")
        if self.screen.has_class("-narrow") and self.pane not in self.focused_ancestors():
            self.show_training(focus="#epochs")  # what t starts is what you see
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
            self.post_message(TrainerUpdate(TrainingEnded("refused", str(exc), 0, user_error=True)))

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
            if self._run is not None and not self.following:
                self.shown = ShownSession(event.session, *self._run, event.start_epoch)
            self.pane.started(event)
            if self._run is not None and not self.following and self._run[1].batch_size > event.train_samples:
                self.notify(f"batch size {self._run[1].batch_size} is more than the {event.train_samples:,} "
                            "training images: each epoch is one batch of them all",
                            severity="warning", timeout=8, markup=False)
        elif isinstance(event, TrainingEnded) and self.follower is not None and not self.training:
            self.pane.ended(event)
            if event.status in (FAILED, "interrupted"):
                self.notify(event.reason or "", title=f"session {self.follower.name}: {event.status}",
                            severity="error", timeout=15, markup=False)
        elif isinstance(event, TrainingEnded):
            self._training_over()
            if event.status == "refused":
                self.pane.set_state("idle", event.reason or "", problem=True)
                self.notify(event.reason or "", title="cannot train", severity="error", timeout=8, markup=False)
            else:
                self.pane.ended(event)
                if event.status == FAILED:
                    self.notify(event.reason or "", title="training failed", severity="error", timeout=15, markup=False)
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

            self.push_screen(ConfirmScreen("quit and lose the unsaved edits to the network?",
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

    @on(DataTable.RowSelected, "#layers")
    def on_layer_selected(self, event: DataTable.RowSelected) -> None:
        """enter on a layer row jumps to its first field."""
        self.editor.sync_form()
        self.editor.form.focus_first()


def describe_write_error(path: str, exc: OSError) -> str:
    """What went wrong writing `path`, and what to do about it."""
    folder = Path(path).parent
    if isinstance(exc, FileNotFoundError) and not folder.is_dir():
        return f"{path}: the folder {folder} does not exist; create it first or choose another path"
    if isinstance(exc, PermissionError):
        return f"{path}: no permission to write there; choose another folder"
    return f"{path}: {exc.strerror or exc}"


def run_app(arch: Architecture | None = None, config: TrainConfig | None = None, session: str | None = None,
            sessions_dir: str | None = None, arch_source: str | None = None, watch: bool = False,
            probe_device: bool = True) -> int:
    """Run the app; its exit status: 0 when the person quit, 1 when it died of an error
    (Textual has printed the traceback by then)."""
    app = CnnTuiApp(arch, config, session, sessions_dir, arch_source, watch=watch, probe_device=probe_device)
    result = app.run()  # after a hang-up, returns once the run in this process has ended
    code = app.return_code or result or 0
    if app.terminal_lost:
        # Textual's input thread still watches the dead terminal and would hold the process
        # open; every session file is written and closed by now, so leave at once.
        os._exit(code)
    return code
