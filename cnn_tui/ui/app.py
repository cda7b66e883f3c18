"""The cnn-tui app: the architecture editor beside the live trainer.

Training runs in one Textual thread worker that drives the headless trainer; every torch
operation (the import, data, model, training) happens in that thread, so torch keeps a single
OpenMP pool and the event loop never waits on tensor work. The worker only posts messages;
widgets are touched on the event loop, in the handlers below.
"""

from __future__ import annotations

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
from ..core.presets import DEFAULT_PRESET, PRESET_NAMES, preset
from ..core.sessions import STOPPED, SessionError, SessionStore, session_meta
from ..core.spec import LAYER_TYPES, Architecture, ArchitectureError
from .editor.pane import EditorPane
from .screens.help import HelpScreen
from .screens.path_prompt import PathPrompt
from .screens.pick import PickScreen
from .training.config_form import ConfigForm
from .training.pane import TrainingPane

NARROW_WIDTH = 110  # below this, one pane at a time (v switches)
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
        Only the epoch target and the device may differ."""
        def settings(c: TrainConfig) -> dict:
            return {**c.to_json(), "epochs": None, "device": None}

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
        Binding("p", "pause", "pause"),
        Binding("s", "stop", "stop"),
        Binding("a", "add_layer", "add"),
        Binding("d", "delete_layer", "delete"),
        Binding("left_square_bracket", "move_layer(-1)", "up", show=False),
        Binding("right_square_bracket", "move_layer(1)", "down", show=False),
        Binding("c", "duplicate_layer", "copy", show=False),
        Binding("r", "preset", "preset", show=False),
        Binding("ctrl+s", "save_session", "save"),
        Binding("o", "open_session", "open"),
        Binding("l", "load_architecture", "load", show=False),
        Binding("w", "write_architecture", "write", show=False),
        Binding("v", "toggle_pane", "view"),
        Binding("escape", "focus_layers", "layers"),
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

    # --- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="panes"):
            yield EditorPane(self.initial_arch, self.config.input,
                             self.config.classes, self.config.dataset, self.config.batch_size, id="editor")
            yield TrainingPane(self.config, id="training")
        yield Footer()

    @property
    def editor(self) -> EditorPane:
        return self.query_one(EditorPane)

    @property
    def pane(self) -> TrainingPane:
        return self.query_one(TrainingPane)

    async def on_mount(self) -> None:
        self.editor.source = self.arch_source
        self.query_one("#layers").focus()
        self._fit_layout(self.size.width)
        if self.initial_session:
            await self.load_session(self.initial_session)
        if self.probe:  # after the first frame: torch's import must not delay it
            self.set_timer(0.5, self.probe_device)

    def on_resize(self, event: Any) -> None:
        self._fit_layout(event.size.width)

    def _fit_layout(self, width: int) -> None:
        self.screen.set_class(width < NARROW_WIDTH, "-narrow")

    def action_toggle_pane(self) -> None:
        self.screen.toggle_class("-show-training")

    def action_focus_layers(self) -> None:
        if self.screen.has_class("-show-training") and self.screen.has_class("-narrow"):
            self.screen.remove_class("-show-training")
        self.query_one("#layers").focus()

    def action_help(self) -> None:
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
            self.post_message(DeviceProbed(f"auto → cpu · {torch.get_num_threads()} threads", None))

    def on_device_probed(self, message: DeviceProbed) -> None:
        if not self.training:
            self.pane.set_device(message.text, message.gpu_total)
            self._show_idle_state()

    # --- keeping editor, configuration and state in step ------------------------------

    async def on_editor_pane_architecture_changed(self, message: EditorPane.ArchitectureChanged) -> None:
        self.arch_error = None if message.summary.ok else str(message.summary.error)
        self._show_idle_state()

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
        if self.training:
            return
        if self.arch_error:
            self.pane.set_state("idle", f"cannot train: {self.arch_error}", problem=True)
        elif self.config_error:
            self.pane.set_state("idle", f"cannot train: {self.config_error}", problem=True)
        elif self.shown:
            self.pane.set_state("idle", f"session {self.shown.name}: {self.shown.epochs_done} epochs · t trains")
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

    async def action_delete_layer(self) -> None:
        await self.editor.delete_layer()

    async def action_move_layer(self, delta: int) -> None:
        await self.editor.move_layer(delta)

    async def action_duplicate_layer(self) -> None:
        await self.editor.duplicate_layer()

    def action_preset(self) -> None:
        async def load(name: str | None) -> None:
            if name:
                await self.editor.load(preset(name), f"preset {name}")

        self.push_screen(PickScreen("replace the architecture with a preset", [(n, n) for n in PRESET_NAMES]), load)

    def action_load_architecture(self) -> None:
        async def load(path: str | None) -> None:
            if not path:
                return
            try:
                arch = Architecture.load(path)
            except ArchitectureError as exc:
                self.notify(str(exc), title="cannot load", severity="error", markup=False)
                return
            await self.editor.load(arch, Path(path).name)
            self.notify(f"loaded {path}", markup=False)

        self.push_screen(PathPrompt("load an architecture JSON file", "architecture.json"), load)

    def action_write_architecture(self) -> None:
        try:
            arch = self.editor.architecture()
        except ArchitectureError as exc:
            self.notify(str(exc), title="fix this first", severity="error", markup=False)
            return

        def write(path: str | None) -> None:
            if not path:
                return
            try:
                arch.save(path)
            except OSError as exc:
                self.notify(f"{path}: {exc.strerror or exc}", title="cannot write", severity="error", markup=False)
                return
            self.notify(f"wrote {path}", markup=False)

        self.push_screen(PathPrompt("write the architecture to", "architecture.json"), write)

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
        arch = self.editor.architecture()
        try:
            name = self.store.new_name("draft")
            session = self.store.create(name, session_meta(arch, self.config, self.config.device))
            session.set_status(STOPPED, "saved from the editor; not trained yet")
        except (SessionError, OSError) as exc:
            self.notify(str(exc), title="cannot save", severity="error", markup=False)
            return
        self.shown = ShownSession(name, arch, self.config, 0)
        self.pane.set_title(f"Training · session {name}")
        self._show_idle_state()
        self.notify(f"saved session {name} in {self.store.root}", markup=False)

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

        async def open_it(name: str | None) -> None:
            if name:
                await self.load_session(name)

        self.push_screen(PickScreen(f"open a session from {self.store.root}", options, notes), open_it)

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
        self._show_idle_state()
        if session.meta.get("reason"):
            self.notify(session.meta["reason"], title=f"session {name}: {session.status}", markup=False)

    # --- training ---------------------------------------------------------------------

    def action_train(self) -> None:
        if self.training:
            self.notify("already training: p pauses, s stops", severity="warning", markup=False)
            return
        problem = self.arch_error or self.config_error
        if problem:
            self.notify(problem, title="cannot train", severity="error", timeout=8, markup=False)
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
        self._run = (arch, self.config)
        self.control = TrainingControl()
        self.training = True
        self.pane.config_form.set_disabled(True)
        self.pane.set_state("starting", "loading data and building the model")
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
        if isinstance(event, BatchProgress):
            self.pane.progress(event)
        elif isinstance(event, EpochStarted):
            self.pane.epoch_started(event)
        elif isinstance(event, EpochFinished):
            self.pane.epoch_finished(event.metrics)
            if self.shown is not None:
                self.shown.epochs_done = event.epoch + 1
        elif isinstance(event, TrainingStarted):
            assert self._run is not None
            self.shown = ShownSession(event.session, *self._run, event.start_epoch)
            self.pane.started(event)
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
        if not self.training or self.control is None:
            self.notify("not training", severity="warning", markup=False)
            return
        paused = self.control.toggle_pause()
        self.pane.set_state("paused" if paused else "training", "p resumes" if paused else "")

    def action_stop(self) -> None:
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
        self.exit(0)

    def on_unmount(self) -> None:
        if self.control is not None:  # never leave a training thread running behind
            self.control.stop()

    @on(DataTable.RowSelected, "#layers")
    def on_layer_selected(self, event: DataTable.RowSelected) -> None:
        """enter on a layer row jumps to its first field."""
        self.editor.sync_form()
        self.editor.form.focus_first()


def run_app(arch: Architecture | None = None, config: TrainConfig | None = None, session: str | None = None,
            sessions_dir: str | None = None, arch_source: str | None = None) -> int:
    return CnnTuiApp(arch, config, session, sessions_dir, arch_source).run() or 0
