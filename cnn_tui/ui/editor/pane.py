"""The editor pane: the draft architecture, its layer table, the selected layer's form, totals."""

from __future__ import annotations

import asyncio
import functools
import gc
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Static

from ...core.draft import ArchitectureDraft, DraftHistory, DraftState, copy_layers
from ...core.layers import TYPES
from ...core.shapes import ArchitectureSummary
from ...core.spec import Architecture, ArchitectureError, LayerPath, format_shape
from ..collector import settle_garbage_collector
from .layer_form import LayerForm
from .layer_table import (
    LARGE_TABLE,
    LayerTable,
    TableRows,
    error_text,
    path_text,
    table_rows,
)
from .table_menu import MenuOption, TableMenu
from .totals import Totals, WrappedText, totals_text

FORM_DELAY = 0.06  # seconds the cursor rests on a row before the form shows that layer
# Above this many layers, the work of an edit (numbers, cells, the undo copy) runs in a
# thread, so the screen keeps drawing: 500 layers take ~6 ms, 40,000 about 0.6 s.
OFF_LOOP_LAYERS = LARGE_TABLE

T = TypeVar("T")
Change = TypeVar("Change", bound=Callable[..., Awaitable[Any]])


def one_change_at_a_time(method: Change) -> Change:
    """An editor method that changes the draft waits for the change before it to finish:
    while an edit's numbers are worked out off the event loop, the draft never changes under
    them (the next edit may come from the app or from the form)."""
    @functools.wraps(method)
    async def serialised(self: "EditorPane", *args: Any, **kwargs: Any) -> Any:
        async with self._changing:
            return await method(self, *args, **kwargs)

    return serialised  # type: ignore[return-value]


async def off_the_loop(job: Callable[..., T], *args: Any) -> T:
    """Run `job` in a thread with the collector out of the way. No collection while it builds:
    each would walk all it has made so far holding the interpreter, and so the event loop
    (50-80 ms each while a 40,000-layer file is read). What it made lives on, so it goes out
    of the collector's way."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return await asyncio.to_thread(job, *args)
    finally:
        settle_garbage_collector()
        if collecting:
            gc.enable()


class EditorPane(Vertical):
    """Owns the draft. Parents set the dataset and batch size; it posts ArchitectureChanged."""

    DEFAULT_CSS = """
    EditorPane { padding: 0 0 0 1; }
    EditorPane #editor-title { height: 1; text-style: bold; }
    EditorPane #editor-error { height: auto; max-height: 3; }
    """

    @dataclass
    class ArchitectureChanged(Message):
        """The numbers changed; `summary.error` says whether it can train."""

        summary: ArchitectureSummary

    def __init__(self, arch: Architecture, input_shape: tuple[int, int, int], classes: int, dataset: str,
                 batch_size: int, source: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.draft = ArchitectureDraft(arch, input_shape)
        self.num_classes, self.dataset, self.batch_size = classes, dataset, batch_size
        self.summary: ArchitectureSummary = self.draft.summary(batch_size, classes, dataset)
        self.source = source
        self.history = DraftHistory()
        self._saved_layers = copy_layers(self.draft.layers)
        self._shown_title = ""
        self._form_timer: Timer | None = None
        self._changing = asyncio.Lock()  # held by each change (see one_change_at_a_time)

    def compose(self) -> ComposeResult:
        yield Static(id="editor-title")
        yield LayerTable(id="layers")
        yield WrappedText(id="editor-error")
        yield LayerForm(id="form")
        yield Totals(id="totals")

    async def on_mount(self) -> None:
        async with self._changing:
            await self._recompute_or_revert(None)
        self._show_form(self.selected)

    async def _work(self, job: Callable[..., T], *args: Any, coming: ArchitectureDraft | None = None) -> T:
        """Run `job` in a thread when the draft (or the one `coming` to replace it) is large,
        so the screen never stalls."""
        layers = len(self.draft.layers) if coming is None else max(len(self.draft.layers), len(coming.layers))
        if layers > OFF_LOOP_LAYERS:
            return await off_the_loop(job, *args)
        return job(*args)

    @property
    def table(self) -> LayerTable:
        return self.query_one(LayerTable)

    @property
    def form(self) -> LayerForm:
        return self.query_one(LayerForm)

    @property
    def selected(self) -> LayerPath | None:
        """The path of the layer under the cursor (a block's, on its projection row)."""
        rows = self.table.rows
        if not rows.paths:
            return None
        return rows.paths[max(0, min(self.table.cursor_row, len(rows.paths) - 1))]

    @property
    def on_projection(self) -> bool:
        """Is the cursor on a block's projection row (derived, not a layer)?"""
        return self.table.cursor_row in self.table.rows.projections

    # --- attributes down ------------------------------------------------------------

    @one_change_at_a_time
    async def set_dataset(self, input_shape: tuple[int, int, int], classes: int, dataset: str) -> None:
        self.draft.input_shape, self.num_classes, self.dataset = input_shape, classes, dataset
        await self._recompute_or_revert(None)

    @one_change_at_a_time
    async def set_batch_size(self, batch_size: int) -> None:
        self.batch_size = batch_size
        await self._recompute_or_revert(None)

    @one_change_at_a_time
    async def load(self, arch: Architecture, source: str) -> bool:
        """Replace the draft (a preset, a file or a session's architecture); False if it
        could not be shown (a notice says why) and the draft is unchanged."""
        try:
            prepared = await self.prepare_load(arch, source)
        except Exception as exc:  # noqa: BLE001 - any failure: say so, keep the old draft
            self._report(exc, f"cannot show {source}")
            return False
        return await self.show_loaded(prepared)

    async def prepare_load(self, arch: Architecture, source: str) -> "PreparedLoad":
        """All the work of showing `arch` in place of the draft (its numbers and rows, the
        undo copy of the draft now), done off the event loop when it is large. Raises what
        computing the numbers raises; nothing on screen changes until `show_loaded`."""
        draft = ArchitectureDraft(arch, self.draft.input_shape)

        def work() -> PreparedLoad:
            return PreparedLoad(draft, source, self.draft.snapshot(), *self._numbers(draft))

        return await self._work(work, coming=draft)

    async def show_loaded(self, prepared: "PreparedLoad") -> bool:
        """Show a prepared draft in one step on the event loop, so in one layout pass shared
        with whatever else changes on screen in that step (a dialog closing). One undo step.
        False (with a notice, the old draft back) if it could not be shown."""
        before, before_source = self.draft, self.source
        self.draft, self.source = prepared.draft, prepared.source
        try:
            self._show(prepared.summary, prepared.rows, prepared.totals, rebuild_form=True, select=(0,))
        except Exception as exc:  # noqa: BLE001 - a bug must not lose the draft or end the app
            self.draft, self.source = before, before_source
            await self.recompute(rebuild_form=True)
            self._report(exc, f"cannot show {prepared.source}")
            return False
        self.history.record(prepared.undo_state)
        self.mark_saved()
        return True

    def wanted_width(self) -> int:
        """Columns the pane needs to show its table whole: cells, scrollbar, padding, border."""
        return self.table.wanted_width + 1 + 2

    def architecture(self) -> Architecture:
        return self.draft.to_architecture()

    def mark_saved(self) -> None:
        """What the editor shows now is saved (in a file or a session): no unsaved edits."""
        self._saved_layers = copy_layers(self.draft.layers)

    @property
    def unsaved(self) -> bool:
        """Has the network been edited since it was loaded or saved?"""
        return self.draft.layers != self._saved_layers or bool(self.draft.snapshot().bad_text)

    # --- editing --------------------------------------------------------------------

    @one_change_at_a_time
    async def _edit(self, change: Callable[[], LayerPath | None], group: object = None,
                    rebuild_form: bool = True) -> None:
        """Apply one edit to the draft and redraw with the cursor on the layer it returns;
        on any failure, put the draft back and say why (an edit can never take the app
        down). Each edit is one undo step."""
        before = await self._work(self.draft.snapshot)
        try:
            select = change()
            await self.recompute(rebuild_form=rebuild_form, select=select)
        except Exception as exc:  # noqa: BLE001
            self.draft.restore(before)
            await self.recompute(rebuild_form=True)
            self._report(exc, "that edit was undone")
            return
        self.history.record(before, group)

    async def _recompute_or_revert(self, select: LayerPath | None) -> None:
        try:
            await self.recompute(select=select)
        except Exception as exc:  # noqa: BLE001
            self._report(exc, "cannot compute the layers")

    def _report(self, exc: Exception, title: str) -> None:
        reason = str(exc) if isinstance(exc, ArchitectureError) else f"{type(exc).__name__}: {str(exc)[:200]}"
        self.notify(reason, title=title, severity="error", timeout=10, markup=False)

    def insertion_point(self) -> LayerPath:
        """Where `a` adds a layer: below the selected one; at the top of an unfolded block
        when its row is selected; after a block when its projection row is."""
        path = self.selected
        if path is None:
            return (0,)
        if self.draft.is_block(path) and not self.draft.folded(path) and not self.on_projection:
            return (*path, 0)
        return (*path[:-1], path[-1] + 1)

    async def insert_layer(self, layer_type: str) -> None:
        at = self.insertion_point()
        await self._edit(lambda: self.draft.insert(at, layer_type, self.draft.shape_before(at, self.summary)))

    def open_add_menu(self) -> None:
        """The layer types, over the table below the selected row; the one picked is added
        where `insertion_point()` says."""
        options = [MenuOption(kind.name, kind.name, kind.help) for kind in TYPES.values()]
        self.focus_layers()
        self.table.open_menu(TableMenu(options, f"add as layer {path_text(self.insertion_point())}",
                                       "enter adds · esc cancels", self.insert_layer))

    def open_delete_menu(self) -> None:
        """Ask, under the selected row, whether to delete its layer (y or enter) or keep it."""
        path = self._on_a_layer("delete")
        if path is None:
            return
        layer = self.draft.layer(path)
        what = f"layer {path_text(path)} ({layer['type']})"
        if self.draft.is_block(path):
            what += f" and the {len(layer['layers'])} layers inside it"

        async def answer(key: str) -> None:
            if key == "delete":
                await self.delete_layer()

        options = [MenuOption("delete", "delete", "ctrl+z brings it back"), MenuOption("keep", "keep", "")]
        self.focus_layers()
        self.table.open_menu(TableMenu(options, f"delete {what}?", "y deletes · n keeps", answer,
                                       shortcuts={"y": "delete", "n": None}))

    async def on_layer_table_menu_picked(self, event: LayerTable.MenuPicked) -> None:
        """Acted on before the menu closes, so the table is drawn once, already changed."""
        event.stop()
        try:
            await event.menu.act(event.key)
        finally:
            self.table.close_menu()

    def _on_a_layer(self, doing: str) -> LayerPath | None:
        """The selected layer's path, or None (with a word why) when there is none to act on."""
        if self.selected is None:
            return None
        if self.on_projection:
            self.notify(f"cannot {doing} the projection: it follows from the block's shapes; "
                        "change the layers inside the block", severity="warning", markup=False)
            return None
        return self.selected

    async def delete_layer(self) -> None:
        path = self._on_a_layer("delete")
        if path is None:
            return

        def delete() -> LayerPath:
            self.draft.delete(path)
            if self.draft.exists(path):
                return path
            if path[-1] > 0:
                return (*path[:-1], path[-1] - 1)
            return path[:-1] or (0,)

        await self._edit(delete)

    async def move_layer(self, delta: int) -> None:
        path = self._on_a_layer("move")
        if path is not None:
            await self._edit(lambda: self.draft.move(path, delta))

    async def duplicate_layer(self) -> None:
        path = self._on_a_layer("copy")
        if path is not None:
            await self._edit(lambda: self.draft.duplicate(path))

    @one_change_at_a_time
    async def toggle_fold(self, path: LayerPath | None = None) -> None:
        """Fold an unfolded block, unfold a folded one: the selected one by default, or the
        block the selected layer is in (the cursor then goes to the block's row)."""
        if path is None:
            path = self.selected  # on a projection row: its block's
            if path is not None and not self.on_projection and not self.draft.is_block(path):
                path = path[:-1]  # the block it is in, if any
        if not path or not self.draft.is_block(path):
            return
        self.draft.set_folded(path, not self.draft.folded(path))
        await self._recompute_or_revert(path)
        self.table.move_cursor(self.table.rows.row_of(path) or 0)

    async def undo(self) -> bool:
        return await self._travel(self.history.undo)

    async def redo(self) -> bool:
        return await self._travel(self.history.redo)

    @one_change_at_a_time
    async def _travel(self, step: Callable[[DraftState], DraftState | None]) -> bool:
        state = step(await self._work(self.draft.snapshot))
        if state is None:
            return False
        row = self.table.cursor_row
        self.draft.restore(state)
        await self._recompute_or_revert(None)
        self.table.move_cursor(row=max(0, min(row, self.table.row_count - 1)), animate=False)
        self._show_form(self.selected)
        return True

    async def on_layer_form_field_edited(self, event: LayerForm.FieldEdited) -> None:
        event.stop()
        stale = not self.draft.exists(event.path) or self.draft.layer(event.path)["type"] != event.layer_type
        if stale or event.text == self.draft.field_text(event.path, event.field):
            return  # from a form that has since been rebuilt, or no change at all

        def set_text() -> LayerPath:
            self.draft.set_field_text(event.path, event.field, event.text)
            return event.path

        await self._edit(set_text, group=(event.path, event.field), rebuild_form=False)

    def focus_layers(self) -> None:
        self.table.focus()

    async def on_layer_table_row_selected(self, event: LayerTable.RowSelected) -> None:
        """enter on a layer row jumps to its first field; on a block, to its first layer
        (unfolding it)."""
        event.stop()
        path = self.selected
        if path is not None and self.draft.is_block(path) and not self.on_projection:
            if self.draft.folded(path):
                await self.toggle_fold(path)
            row = self.table.rows.row_of((*path, 0))
            if row is not None and self.table.rows.paths[row] == (*path, 0):
                self.table.move_cursor(row)
            return
        self.sync_form()
        self.form.focus_first()

    async def on_layer_table_fold_toggled(self, event: LayerTable.FoldToggled) -> None:
        event.stop()
        await self.toggle_fold()

    def on_layer_table_row_highlighted(self, event: LayerTable.RowHighlighted) -> None:
        """The cursor moved: the row shows it at once; the form follows once the cursor rests
        (FORM_DELAY), so holding an arrow key never waits on refilling the form's inputs."""
        event.stop()
        if self._form_timer is not None:
            self._form_timer.stop()
        self._form_timer = self.set_timer(FORM_DELAY, self.sync_form)

    def sync_form(self) -> None:
        """Show the selected layer in the form now, if it is not already shown."""
        if self._form_timer is not None:
            self._form_timer.stop()
            self._form_timer = None
        path = self.selected
        layer_type = self._form_type(path)
        if (self.form.path, self.form.layer_type) != (path, layer_type):
            self._show_form(path)

    # --- redraw ---------------------------------------------------------------------

    def _form_type(self, path: LayerPath | None) -> str | None:
        """What the form shows for the row at the cursor: the layer's type, or "projection"."""
        if path is None:
            return None
        return "projection" if self.on_projection else self.draft.layer(path)["type"]

    def _show_form(self, path: LayerPath | None) -> None:
        layer_type = self._form_type(path)
        if path is None or layer_type is None:
            self.form.show(None, None, {})
        elif layer_type == "projection":
            self.form.show(path, layer_type, {}, "added because the block's layers change the shape; "
                                                 "change them to change it")
        else:
            texts = {name: self.draft.field_text(path, name) for name in self.draft.field_names(path)}
            note = ""
            if self.draft.is_block(path):
                count = len(self.draft.layer(path)["layers"])
                note = f"{count} layer{'s' if count != 1 else ''} inside · enter goes in · space " + (
                    "unfolds" if self.draft.folded(path) else "folds")
            self.form.show(path, layer_type, texts, note)
        self._mark_form()

    def _mark_form(self) -> None:
        path = self.form.path
        error = self.summary.error
        field, reason = None, None
        if path is not None and self.form.layer_type != "projection" and self.draft.exists(path):
            for name in self.draft.field_names(path):
                bad = self.draft.field_error(path, name)
                if bad:
                    field, reason = name, bad
                    break
            if field is None and error is not None and error.path == path:
                field, reason = error.field, str(error)
        self.form.mark(field, reason)

    @staticmethod
    def _typed_settings(draft: ArchitectureDraft, summary: ArchitectureSummary) -> dict[LayerPath, str]:
        """The erroneous row's settings as typed, when a field holds text that is not a value."""
        error = summary.error
        if error is None or error.path is None or not error.field:
            return {}
        if draft.field_error(error.path, error.field) is None:
            return {}
        text = draft.field_text(error.path, error.field)
        return {error.path: f"{error.field} = {text}" if text.strip() else f"{error.field} empty"}

    def _numbers(self, draft: ArchitectureDraft | None = None) -> tuple[ArchitectureSummary, TableRows, Text]:
        """Every layer's numbers, its table row and the totals, of the draft (or of another
        one about to replace it): pure work, safe in a thread."""
        draft = self.draft if draft is None else draft
        summary = draft.summary(self.batch_size, self.num_classes, self.dataset)
        return summary, table_rows(draft, summary, self._typed_settings(draft, summary)), totals_text(summary)

    async def recompute(self, rebuild_form: bool = False, select: LayerPath | None = None) -> None:
        """Recompute every number and redraw: ~1 ms for 100 layers on the event loop; a
        large draft's numbers are worked out in a thread (see OFF_LOOP_LAYERS)."""
        self._show(*await self._work(self._numbers), rebuild_form=rebuild_form, select=select)

    def _show(self, summary: ArchitectureSummary, rows: TableRows, totals: Text, rebuild_form: bool,
              select: LayerPath | None) -> None:
        """Put worked-out numbers on screen: title, table, error line, totals, form."""
        self.summary = summary
        title = f"Architecture · {self.source} · input {format_shape(self.draft.input_shape)} ({self.dataset})"
        if title != self._shown_title:  # one line tall: a new title needs no layout pass
            self._shown_title = title
            self.query_one("#editor-title", Static).update(Text(title), layout=False)
        self.table.show(rows, keep_row=rows.row_of(select))
        self.query_one("#editor-error", WrappedText).show(error_text(summary.error))
        self.query_one(Totals).show(totals)
        if rebuild_form:  # the layers changed under the form: refill it now
            if self._form_timer is not None:
                self._form_timer.stop()
                self._form_timer = None
            self._show_form(self.selected)
        else:
            self._mark_form()
        self.post_message(self.ArchitectureChanged(summary))


@dataclass
class PreparedLoad:
    """A draft ready to replace the editor's, with everything needed to show it."""

    draft: ArchitectureDraft
    source: str
    undo_state: DraftState  # the draft it replaces, for undo
    summary: ArchitectureSummary
    rows: TableRows
    totals: Text
