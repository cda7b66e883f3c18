"""What the app reads and writes: presets, architecture files and sessions.

`SessionActions` is mixed into the app (cnn_tui.ui.app.CnnTuiApp) and uses its editor and
training panes, its session store and its notices. Each action asks what it needs (a name,
a path, a yes) on a screen of its own, and says in a notice what it did or why it could not.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Awaitable, Callable

from textual import work

from ..core.compare import Run
from ..core.config import TrainConfig
from ..core.export import FORMATS, ExportError, default_file, export_session
from ..core.files import atomic_writer
from ..core.presets import PRESET_NAMES, preset
from ..core.sessions import STOPPED, SessionError, new_record
from ..core.spec import Architecture, ArchitectureError
from ..words import worded
from .editor.pane import PreparedLoad, off_the_loop
from .screens.compare import ChooseRunsScreen, CompareScreen
from .screens.confirm import ConfirmScreen
from .screens.gallery import GalleryScreen
from .screens.pick import PickScreen
from .screens.prompt import PromptRefused, TextPrompt
from .screens.sessions import SessionsScreen


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


class SessionActions:
    """The app's file and session keys: r, l, w, ctrl+s, o (and n / x in the sessions list)."""

    def action_preset(self) -> None:
        def load(name: str | None) -> None:
            if name:  # drawn after the list has gone
                self.show_after_frame(partial(self.editor.load, preset(name), f"preset {name}"))

        def pick(yes: bool | None = True) -> None:
            if yes:
                self.push_dialog(PickScreen("replace the architecture with a preset", [(n, n) for n in PRESET_NAMES]), load)

        self._confirm_replacing("replace the whole network with a preset?", pick)

    def _confirm_replacing(self, question: str, then: Any) -> None:
        """Run `then(True)` at once when nothing is lost, else after the person says yes."""
        if self.editor.unsaved:
            self.push_dialog(ConfirmScreen(question, "the network has unsaved edits (ctrl+z undoes a replace)"), then)
        else:
            then(True)

    def action_load_architecture(self) -> None:
        async def read(path: str) -> PreparedLoad:
            """Read, check and prepare the file while the prompt is up (in a thread: a large
            file never stalls the screen); a problem keeps the prompt open, saying why."""
            self.last_path = path
            try:
                arch = await off_the_loop(Architecture.load, path)
            except ArchitectureError as exc:
                raise PromptRefused(f"cannot load: {exc}") from None
            except Exception as exc:  # noqa: BLE001 - e.g. nesting too deep to read: said, never an exit
                raise PromptRefused(f"cannot load {path}: {type(exc).__name__}: {str(exc)[:200]}") from None
            try:
                return await self.editor.prepare_load(arch, Path(path).name)
            except Exception as exc:  # noqa: BLE001
                raise PromptRefused(f"cannot show {path}: {type(exc).__name__}: {str(exc)[:200]}") from None

        def show(prepared: PreparedLoad | None) -> None:
            # Drawn in the frame after the one that takes the prompt away. The editor's title
            # names the file: no notice (a notice is a layout pass of its own).
            if prepared is not None:
                self.show_after_frame(partial(self.editor.show_loaded, prepared))

        def ask(yes: bool | None = True) -> None:
            if yes:
                self.push_dialog(TextPrompt("load an architecture JSON file", self.last_path, check=read), show)

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
                self.push_dialog(ConfirmScreen(f"{path} exists. Replace it?"), lambda yes: confirmed(path, yes))
            else:
                write_to(path)

        self.push_dialog(TextPrompt("write the architecture to", self.last_path), ask)

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
                session = self.store.create(name, new_record(arch, config, config.device))
                session.set_status(STOPPED, "saved from the editor; not trained yet")
            except (SessionError, OSError) as exc:
                self.notify(worded(exc, "app"), title="cannot save", severity="error", markup=False)
                return
            self.shown = ShownSession(name, arch, config, 0)
            self.pane.show_epochs([])  # the saved session has no epochs yet
            self.pane.set_title(f"Training · session {name}")
            self.editor.mark_saved()
            self._show_idle_state()
            self.notify(f"saved session {name} in {self.store.root}", markup=False)

        self.push_dialog(TextPrompt("save as a session named", self.store.new_name("draft"),
                                    "letters, digits, . _ - only"), save)

    def action_open_session(self) -> None:
        if self.training:
            self.notify("stop training before opening another session", severity="warning", markup=False)
            return
        self.list_sessions()

    def list_sessions(self) -> None:
        """Read every session (and its metrics) off the event loop; then offer the list. Keys
        and clicks wait until it is up: typed right behind `o` (a down and an enter), they
        went to the panes while the disk was read."""
        self._hold_input()
        self._read_sessions()

    @work(thread=True, exclusive=True, group="sessions", exit_on_error=False, description="list sessions")
    def _read_sessions(self) -> None:
        try:
            try:
                infos, problems = self.store.list()
            except SessionError as exc:
                self.call_from_thread(self.notify, worded(exc, "app"), title="cannot list sessions",
                                      severity="error", markup=False)
                return
            self.call_from_thread(self._pick_session, infos, problems)
        finally:
            self.call_from_thread(self._release_input)

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
                self.push_dialog(TextPrompt(f"rename session {name} to", name, "letters, digits, . _ - only"),
                                 lambda new: self._rename_session(name, new))
            elif action == "delete":
                self.push_dialog(ConfirmScreen(f"delete session {name} and everything in it?",
                                               "its metrics and checkpoint go too; this cannot be undone"),
                                 lambda yes: self._delete_session(name) if yes else None)
            elif action == "export":
                self._ask_export(name)
            elif action == "gallery":
                try:
                    self.push_dialog(GalleryScreen(self.store.open(name)))
                except SessionError as exc:
                    self.notify(worded(exc, "app"), title=f"cannot open {name}", severity="error", markup=False)
            elif action == "compare":
                self.push_dialog(ChooseRunsScreen(options, name),
                                 lambda names: self.compare_sessions(names) if names else None)

        self.push_dialog(SessionsScreen(f"sessions in {self.store.root}", options, notes), act)

    def _ask_export(self, name: str) -> None:
        """Which format, then which file; the export is made off the event loop."""
        labels = {"python": "a PyTorch file with load_model(checkpoint)", "json": "the architecture",
                  "csv": "the metrics, a line per epoch", "markdown": "the summary table",
                  "onnx": "the trained network (needs the onnx extra)"}
        options = [(fmt, f"{fmt:<9} {labels[fmt]}") for fmt in FORMATS]

        def chosen(fmt: str | None) -> None:
            if fmt:
                self.push_dialog(TextPrompt(f"export session {name} ({fmt}) to", default_file(name, fmt),
                                            "a file path; its folder must exist"),
                                 lambda path: self.write_export(name, fmt, path) if path else None)

        self.push_dialog(PickScreen(f"export session {name} as", options), chosen)

    @work(thread=True, group="export", exit_on_error=False, description="export a session")
    def write_export(self, name: str, fmt: str, path: str) -> None:
        """Write the export atomically; a notice says where, or why not."""
        try:
            result = export_session(self.store.open(name), fmt)
            with atomic_writer(Path(path).expanduser(), "wb" if isinstance(result, bytes) else "w") as handle:
                handle.write(result)
        except (SessionError, ExportError, ArchitectureError, ValueError) as exc:
            self.call_from_thread(self.notify, worded(exc, "app") if isinstance(exc, SessionError) else str(exc),
                                  title=f"cannot export {name}", severity="error", timeout=10, markup=False)
            return
        except OSError as exc:
            self.call_from_thread(self.notify, describe_write_error(path, exc), title=f"cannot export {name}",
                                  severity="error", timeout=10, markup=False)
            return
        self.call_from_thread(self.notify, f"wrote {path} ({fmt})", markup=False)

    @work(thread=True, group="compare", exclusive=True, exit_on_error=False, description="compare sessions")
    def compare_sessions(self, names: list[str]) -> None:
        """Read the sessions off the event loop, then show them side by side."""
        try:
            runs = [Run.of(self.store.open(name)) for name in names]
        except (SessionError, ArchitectureError, ValueError) as exc:
            self.call_from_thread(self.notify, str(exc), title="cannot compare", severity="error", timeout=10,
                                  markup=False)
            return
        self.call_from_thread(self.push_screen, CompareScreen(runs))

    def _open_chosen(self, name: str) -> None:
        # In five frames: the panes drawn back as the list closes, then the network and the
        # configuration, then the epoch table, the loss chart and the accuracy chart. Drawn
        # in one frame with the list closing, it all took 30-50 ms on 2 cores.
        self.show_after_frame(partial(self.load_session, name, between=self.next_frame))

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

    async def load_session(self, name: str, between: Callable[[], Awaitable[Any]] | None = None) -> None:
        """Show a saved session: its configuration, architecture, table and charts (with
        `between` awaited between these, each drawn in a frame of its own; without it, all
        in one, as at start-up, before the first frame)."""
        between = between or _at_once
        try:
            session = self.store.open(name)
            rows, warnings = session.read_metrics()
            arch = session.architecture
            config = session.config.for_architecture(arch)
            config.validate()
        except (SessionError, ArchitectureError, ValueError, TypeError) as exc:
            self.notify(str(exc), title=f"cannot open session {name}", severity="error", timeout=10, markup=False)
            return
        for warning in warnings:
            self.notify(warning, severity="warning", markup=False)
        distributed = session.record.distributed
        self.pane.config_form.load(config, str(distributed["world_size"]) if distributed else "1")
        self.pane.total_epochs = config.epochs  # "k/N epochs done": this session's target
        self.config = config
        await between()  # a new choice in a drop-down lays the screen out: a frame of its own
        await self.editor.set_dataset(config.input, config.classes, config.dataset)
        await self.editor.set_batch_size(config.batch_size)
        await self.editor.load(arch, f"session {name}")
        self.shown = ShownSession(name, arch, config, len(rows))
        await between()
        await self.pane.show_epochs_in_frames(rows, between)
        self.pane.set_title(f"Training · session {name} ({session.status})")
        self.pane.set_device(f"last run on {session.device}")
        self._stop_following()
        if session.live or self.watch_initial:
            self.watch_initial = False
            self._follow(name)
            return
        self.pane.show_over(session.status, len(rows))
        self._show_idle_state()
        if session.reason:
            self.notify(session.reason, title=f"session {name}: {session.status}", markup=False)


async def _at_once() -> None:
    """Between two parts of a session shown: nothing (they are drawn in one frame)."""


def describe_write_error(path: str, exc: OSError) -> str:
    """What went wrong writing `path`, and what to do about it."""
    folder = Path(path).parent
    if isinstance(exc, FileNotFoundError) and not folder.is_dir():
        return f"{path}: the folder {folder} does not exist; create it first or choose another path"
    if isinstance(exc, PermissionError):
        return f"{path}: no permission to write there; choose another folder"
    return f"{path}: {exc.strerror or exc}"
