"""The cnn-tui app: the architecture editor beside the live trainer.

This file holds the app itself: its keys, its layout (one pane or two, by width), the device
probe, and keeping the editor, the configuration and the training state in step. The rest
of what the app does lives in two mixins, one job each:

- training_controller.py: the training worker, pause / stop / quit, a lost terminal, and
  runs followed in another process (background runs, `cnn-tui watch`);
- session_actions.py: presets, architecture files and sessions.

The panes are views: the app sets what they show (attributes down) and they post messages
when something changed (messages up).
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from functools import partial
from typing import Any, Awaitable, Callable, Iterable

from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widget import Widget

from ..core.config import TrainConfig
from ..core.events import FAILED, TrainingControl
from ..core.follow import SessionFollower
from ..core.presets import DEFAULT_PRESET, preset
from ..core.sessions import SessionStore
from ..core.spec import Architecture
from ..words import count
from .collector import QuietCollector, settle_garbage_collector
from .editor.pane import EditorPane
from .keybar import KeyBar
from .screens.confusion import ConfusionScreen
from .screens.dialog import SteadyScreen
from .screens.help import HelpScreen
from .session_actions import SessionActions, ShownSession
from .training import figure_worker
from .training.config_form import ConfigForm
from .training.pane import TrainingPane
from .training_controller import TrainingController

NARROW_WIDTH = 110  # below this, one pane at a time (v switches)
EDITOR_MIN_WIDTH = 56  # the editor's layer form needs this much
TRAINING_MIN_WIDTH = 48  # the training pane's form, progress and epoch table fit in this
# The panes' split is chosen at start and when the terminal is resized, never by an edit or a
# load: a new width for a pane lays out and redraws the whole screen, about 40 ms on 2 cores,
# three frames in which no key is answered. The editor gets its table's width and some spare
# columns, or a share of a wide screen if that is more, so that a wider file or a longer shape
# still fits; a table that does not fit scrolls sideways with "#" and "layer" kept in view.
WIDTH_SLACK = 6
# A key whose way up to the app was cut (its widget removed meanwhile) holds the keys behind
# it no longer than this (seconds).
KEY_WAIT_MOST = 0.5
EDITOR_SHARE = 0.45


class MainScreen(SteadyScreen, Screen):
    """The editor and the training pane. Moving the focus repaints the two widgets whose
    look changes, not the whole screen: Textual's Screen repaints every widget on each focus
    move (its `focused` is a repainting reactive), which was 10-20 ms a tab on a 2-core
    machine. What the focus changes (styles, the key bar) updates itself."""

    focused: Reactive[Widget | None] = Reactive(None, repaint=False)
    # Its own lines are plain background under the panes: drawn as blank lines straight away,
    # not through Textual's style cache (~0.7 ms on 2 cores at every full repaint).
    BLANK = True


@dataclass
class DeviceProbed(Message):
    text: str
    gpu_total: int | None


class CnnTuiApp(TrainingController, SessionActions, App[int]):
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
    # The tooltip is what the command palette (ctrl+p) lists the action as: "load" finds l.
    BINDINGS = [
        Binding("t", "train", "train", tooltip="Train the network (continues an opened session)"),
        Binding("b", "train_background", "background",
                tooltip="Train in the background: a process that goes on if this terminal closes"),
        Binding("p", "pause", "pause", tooltip="Pause or resume the run"),
        Binding("s", "stop", "stop", tooltip="Stop the run after the current batch"),
        Binding("a", "add_layer", "add", tooltip="Add a layer below the selected one"),
        Binding("d", "delete_layer", "delete", tooltip="Delete the selected layer"),
        Binding("left_square_bracket", "move_layer(-1)", "up", show=False, tooltip="Move the selected layer up"),
        Binding("right_square_bracket", "move_layer(1)", "down", show=False, tooltip="Move the selected layer down"),
        Binding("c", "duplicate_layer", "copy", show=False, tooltip="Copy the selected layer"),
        Binding("ctrl+z", "undo", "undo", show=False, tooltip="Undo the last edit to the network"),
        Binding("ctrl+y", "redo", "redo", show=False, tooltip="Redo an edit undone"),
        Binding("r", "preset", "preset", show=False, tooltip="Replace the network with a preset"),
        Binding("ctrl+s", "save_session", "save", tooltip="Save the network and configuration as a session"),
        Binding("o", "open_session", "open", tooltip="Open a session: the saved sessions"),
        Binding("m", "confusion", "matrix", tooltip="Confusion matrix of the epoch highlighted"),
        Binding("l", "load_architecture", "load", show=False, tooltip="Load an architecture JSON file"),
        Binding("w", "write_architecture", "write", show=False, tooltip="Write the architecture to a JSON file"),
        Binding("v", "toggle_pane", "pane", tooltip="Go to the other pane"),
        Binding("plus,equals_sign", "smoothing(1)", "smoother", show=False, tooltip="Smooth the loss curve more"),
        Binding("minus", "smoothing(-1)", "rougher", show=False, tooltip="Smooth the loss curve less"),
        Binding("y", "log_loss", "log y", show=False, tooltip="Logarithmic loss axis on or off"),
        Binding("escape", "focus_layers", "back", show=False),
        Binding("question_mark", "help", "help", tooltip="Help: every key, and what the numbers mean"),
        Binding("q", "quit", "quit", tooltip="Quit"),
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
        self.processes = "1"  # several: `t` starts a distributed run in the background
        self.shown: ShownSession | None = None  # the session the training pane shows
        self._run: tuple[Architecture, TrainConfig] | None = None  # what the worker is training
        self.last_path = "architecture.json"  # what l and w offer: the last file named
        self.watch_initial = watch  # `cnn-tui watch NAME`: follow the session even if it has ended
        self.follower: SessionFollower | None = None  # a run in another process, followed
        self._follow_timer: Any = None
        self.terminal_lost = False
        self.collector = QuietCollector()  # full garbage collections wait for a pause
        self._held_input: list[events.Event] = []  # keys and clicks waiting for a change to be drawn
        self._changes_waiting = 0  # changes and dialogs waiting to be drawn (show_after_frame, push_dialog)

    # --- layout ---------------------------------------------------------------------

    def get_default_screen(self) -> Screen:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        with Horizontal(id="panes"):
            yield EditorPane(self.initial_arch, self.config.input,
                             self.config.classes, self.config.dataset, self.config.batch_size,
                             source=self.arch_source, id="editor")
            yield TrainingPane(self.config, id="training")
        yield KeyBar()

    @property
    def editor(self) -> EditorPane:
        return self.query_one(EditorPane)

    @property
    def pane(self) -> TrainingPane:
        return self.query_one(TrainingPane)

    async def on_mount(self) -> None:
        if hasattr(signal, "SIGHUP"):
            self._previous_hup = signal.signal(signal.SIGHUP, self._on_hangup)
        self.editor.focus_layers()
        openers = {"add_layer": self.action_add_layer, "delete_layer": self.action_delete_layer}
        self.editor.table.menu_keys = {key: openers[binding.action] for binding in self.BINDINGS
                                       if binding.action in openers for key in binding.key.split(",")}
        if self.initial_session:
            await self.load_session(self.initial_session)
        self._fit_layout(self.size.width)
        if self.probe:  # after the first frame: torch's import must not delay it
            self.set_timer(0.5, self.probe_device)
        self.call_after_refresh(settle_garbage_collector)  # what is drawn now lives long
        self.call_after_refresh(figure_worker.start_in_background)  # the charts' figures, built off the loop
        self.call_after_refresh(lambda: HelpScreen.draw_ahead(self.size.width))
        self.collector.start()
        self.set_interval(1.0, self.collector.tick)

    def on_unmount(self) -> None:
        self.collector.stop()

    async def on_event(self, event: events.Event) -> None:
        if self._changes_waiting and isinstance(event, (events.InputEvent, events.Paste)) and not event.is_forwarded:
            self._held_input.append(event)  # acted on once the change is on screen
            return
        if isinstance(event, (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp, events.Paste)):
            self.collector.touched()
        handed_to = (self.focused or self.screen) if isinstance(event, events.Key) and not event.is_forwarded else None
        await super().on_event(event)
        if handed_to is not None and event.is_forwarded:  # not taken by a priority key: handed down
            self._follow_key(handed_to)

    def _follow_key(self, first: Widget | Screen) -> None:
        """Hold the keys and clicks behind a key until it has been through every widget from
        `first` (where Textual handed it) up to the app.

        Textual hands a key to the focused widget; it comes back up through the widget's
        parents to the app, whose own keys (`l`, `o`, `t`, ...) act only then. Keys read in
        the same go (a burst over a slow link) were handed down before that: the letters of a
        path typed right behind `l` acted on the panes (`t` trained, `o` opened the sessions
        list). A callback posted behind the key at each widget on its way says when it has
        gone by; the app's own is the last. A second round of them, along the same way, goes
        behind what the key set off there (enter on a layer row: the row's selection, which
        moves the focus to its first field); the keys behind it go after that."""
        self._hold_input()
        loop = asyncio.get_running_loop()
        safety: asyncio.TimerHandle | None = None

        def release() -> None:
            nonlocal safety
            if safety is not None:
                safety.cancel()
                safety = None
                self._release_input()

        def gone_by(node: Any, rounds: int) -> None:
            if node is self:
                if rounds == 1 or not first.call_later(gone_by, first, rounds - 1):
                    release()
                return
            parent = node.parent  # a screen's parent is the app
            if parent is None or not parent.call_later(gone_by, parent, rounds):
                release()

        safety = loop.call_later(KEY_WAIT_MOST, release)
        if not first.call_later(gone_by, first, 2):
            release()

    def show_after_frame(self, show: Callable[[], Awaitable[Any]]) -> None:
        """Run `show` (a change to what the panes show) once the screen has been drawn, and
        hold keys and clicks until it has run.

        A dialog that closes has Textual draw the whole screen below it again. With a new
        network's table, form and totals drawn in that same frame, it took 20-30 ms on 2
        cores. Drawn first as it was (from its widgets' kept lines), the screen then takes the
        change in a frame of its own, each under one frame's time (`show` may draw in more
        frames still, awaiting `next_frame` between its steps). Input that comes meanwhile
        (a key typed right after enter) waits, then acts on what `show` put on screen, as if
        it had all been one step."""
        self._hold_input()

        async def change() -> None:
            try:
                await self.next_frame()
                await show()
            finally:
                self._release_input()

        self.run_worker(change(), group="show", exit_on_error=False, description="show a change")

    async def next_frame(self) -> None:
        """Wait until the screen has been drawn again (at once if it has nothing to draw)."""
        drawn = asyncio.Event()
        self.call_after_refresh(drawn.set)
        await drawn.wait()

    def _hold_input(self) -> None:
        """Keys and clicks wait from now until `_release_input`."""
        self._changes_waiting += 1

    def push_dialog(self, dialog: Screen, callback: Any = None) -> None:
        """Push `dialog` in the event loop's next turn, holding keys and clicks until it is
        built (they then go to the dialog, as they would have).

        A dialog that dims the screen behind it copies that screen's lines as it is made (5-10
        ms on 2 cores), and Textual then builds the dialog's widgets (6-9 ms more): in one
        turn of the loop, the screen stood still for both."""
        self._hold_input()

        async def push() -> None:
            try:
                await self.push_screen(dialog, callback)  # built: what is held goes to its widgets
            finally:
                self._release_input()

        self.set_timer(0.001, push)

    def _release_input(self) -> None:
        """One change waited for is done: when none is left, the keys and clicks held
        meanwhile are acted on, in the order they came."""
        self._changes_waiting -= 1
        if not self._changes_waiting:
            held, self._held_input = self._held_input, []
            for event in held:
                self.post_message(event)

    def on_resize(self, event: Any) -> None:
        self._fit_layout(event.size.width)

    @property
    def main_screen(self) -> Screen:
        """The panes' screen (`screen` is a dialog's while one is up: a terminal resized
        under help must still fit the panes)."""
        return self.editor.screen

    @property
    def narrow(self) -> bool:
        """One pane at a time: the terminal is narrower than NARROW_WIDTH."""
        return self.size.width < NARROW_WIDTH

    def _fit_layout(self, width: int) -> None:
        """Narrow: one pane at a time. Wide: the editor as wide as its table needs plus some
        slack, or its share of the screen if that is more (within what leaves the training
        pane usable); the training pane takes the rest."""
        narrow = width < NARROW_WIDTH
        self.main_screen.set_class(narrow, "-narrow")
        editor = None
        if not narrow:
            editor = max(self.editor.wanted_width() + WIDTH_SLACK, round(width * EDITOR_SHARE))
            editor = max(EDITOR_MIN_WIDTH, min(editor, width - TRAINING_MIN_WIDTH))
        current = self.editor.styles.width
        if (current.value if current is not None else None) != editor:
            self.editor.styles.width = editor  # None: the stylesheet's (narrow: the whole screen)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette: the app's actions by what they do, with their keys, then
        Textual's own commands. Only the main screen's keys (a dialog has its own)."""
        if screen is self.main_screen:
            for binding in self.BINDINGS:
                if binding.tooltip:
                    yield SystemCommand(binding.tooltip, f"key {self.get_key_display(binding)}",
                                        partial(self.run_action, binding.action))
        yield from super().get_system_commands(screen)

    def action_toggle_pane(self) -> None:
        """The other pane: its first control gets the focus (narrow: it is shown instead)."""
        if self.pane in self.focused_ancestors():
            self.show_editor()
        else:
            self.show_training(self.pane.focus_config)

    def focused_ancestors(self) -> list:
        return list(self.focused.ancestors_with_self) if self.focused is not None else []

    def show_training(self, focus: Callable[[], None]) -> None:
        """The training pane (narrow: instead of the editor), focused by `focus`."""
        self.main_screen.add_class("-show-training")
        focus()

    def show_the_run(self) -> None:
        """Narrow: the training pane in place of the editor, its epoch table focused. A run
        started here, or followed (a background run, `cnn-tui watch`, a live session opened),
        is what the person then sees."""
        if self.narrow and self.pane not in self.focused_ancestors():
            self.show_training(self.pane.focus_epochs)

    def action_focus_layers(self) -> None:
        """escape: out of a training field to the epoch table; otherwise to the layers."""
        if self.pane in self.focused_ancestors() and not self.pane.epochs_focused:
            self.pane.focus_epochs()
            return
        self.show_editor()

    def show_editor(self) -> None:
        self.main_screen.remove_class("-show-training")
        self.editor.focus_layers()

    def _kept(self, name: str, make: Callable[[], Screen]) -> Screen:
        """The dialog kept as `name`, made by `make` the first time: a dialog whose content
        never changes is built once (tens of ms) and opens at once after that."""
        if not self.is_screen_installed(name):
            self.install_screen(make(), name)
        return self.get_screen(name)

    def action_help(self) -> None:
        self.clear_notifications()  # a notice would cover the help text
        self._kept("help", HelpScreen)
        self.push_screen("help")

    # --- the confusion matrix of the epochs shown ---------------------------------------

    @property
    def shown_dataset(self) -> str:
        """The dataset of the run the training pane shows (its classes name the matrix)."""
        return self.shown.config.dataset if self.shown is not None else self.config.dataset

    def action_confusion(self) -> None:
        """The test set's confusion matrix of the epoch highlighted in the table (else the
        last); it follows new epochs while a run trains."""
        rows = self.pane.epoch_rows
        if not rows and not (self.training or self.following):
            self.notify("no finished epoch to show: each epoch's test pass records its confusion matrix; t trains",
                        severity="warning", markup=False)
            return
        selected = self.pane.selected_epoch
        epoch = next((i for i, row in enumerate(rows) if row["epoch"] == selected), None)
        self.push_dialog(ConfusionScreen(rows, self.shown_dataset, epoch, self.session_name))

    def on_training_pane_epochs_changed(self, message: TrainingPane.EpochsChanged) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, ConfusionScreen):
                screen.session = self.session_name
                screen.set_rows(self.pane.epoch_rows, self.shown_dataset)

    # --- the loss chart's drawing -------------------------------------------------------

    def action_smoothing(self, step: int) -> None:
        weight = self.pane.change_smoothing(step)
        self.notify(f"loss per batch: smoothing {weight:g}" + (" (raw)" if not weight else ""), timeout=2,
                    markup=False)

    def action_log_loss(self) -> None:
        log = self.pane.toggle_log_loss()
        self.notify(f"loss chart: {'logarithmic' if log else 'linear'} y axis", timeout=2, markup=False)

    # --- the device (probed in a thread; the trainer reports what it really used) -----

    @work(thread=True, group="probe", exit_on_error=False, description="probe device")
    def probe_device(self) -> None:
        import torch  # in a worker thread, never on the event loop

        from ..core.device import device_name, gpu_memory, pick_device

        device = pick_device("auto")  # the trainer's own rule
        if device.type == "cpu":
            self.post_message(DeviceProbed(f"auto → cpu · {count(torch.get_num_threads(), 'thread')}", None))
        else:
            self.post_message(DeviceProbed(f"auto → {device.type} · {device_name(device)}", gpu_memory(device)))

    def on_device_probed(self, message: DeviceProbed) -> None:
        settle_garbage_collector()  # torch is imported now: its objects live as long as the app
        if self.is_running and not self.training:
            self.pane.set_device(message.text, message.gpu_total)
            self._show_idle_state()

    # --- keeping editor, configuration and state in step ------------------------------

    # A change still queued when the app closes (a session opened just before quitting posts
    # one per field it fills) finds the panes gone: nothing to keep in step then.

    async def on_editor_pane_architecture_changed(self, message: EditorPane.ArchitectureChanged) -> None:
        if not self.is_running:
            return
        self.arch_error = None if message.summary.ok else str(message.summary.error)
        self._show_idle_state()

    async def on_config_form_changed(self, message: ConfigForm.Changed) -> None:
        if not self.is_running:
            return
        self.config_error = message.error
        self.processes = message.processes
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
        self.show_editor()  # narrow, with the training pane shown: the editor comes back
        self.editor.open_add_menu()

    def action_delete_layer(self) -> None:
        if self.editor.selected is None:
            self.notify("no layer to delete", severity="warning", markup=False)
            return
        self.show_editor()  # narrow, with the training pane shown: the editor comes back
        self.editor.open_delete_menu()  # asks under the layer's row

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
