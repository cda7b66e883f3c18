"""The selected layer's fields as inputs. Every keystroke is posted up as it happens.

The form keeps a fixed set of (label, input) slots and refills them when another layer is
selected, rather than mounting new widgets: moving the cursor through the layer table then
costs no layout pass (mounting a fresh form took ~40 ms per key press, ~4 ms this way).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.text import Text
from textual.app import ComposeResult
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Input, Static

from ...core.spec import LAYER_TYPES, LayerPath
from .layer_table import path_text

SLOTS = max(len(fields) for fields in LAYER_TYPES.values())


class FieldInput(Input):
    """An input that knows which layer field it is showing when its value changes."""

    # Input sets its scrollable size on every keystroke (its text got longer or shorter),
    # and Textual lays out the whole screen for it: 10-15 ms a key on 2 cores. Nothing
    # here depends on that layout: the input is 1fr wide at most 10, shows no scrollbar, and
    # scrolls to its cursor by force.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    @dataclass
    class Edited(Message):
        key: tuple[LayerPath, str, str]  # (layer path, layer type, field) at the moment of the edit
        text: str

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.key: tuple[LayerPath, str, str] | None = None

    def watch_value(self, value: str) -> None:
        # Called as the value changes, so the key is the one in force then: a refill that
        # follows (another layer selected) cannot redirect this edit.
        if self.key is not None:
            self.post_message(self.Edited(self.key, value))

    def render_line(self, y: int) -> Strip:
        # A see-through slot shows nothing of itself: a blank line, not Input's own drawing
        # (~0.5 ms on 2 cores), redrawn for each of the seven slots when a layer with fewer
        # fields is selected.
        if self.styles.opacity == 0:
            return Strip.blank(self.size.width, self.rich_style)
        return super().render_line(y)

    def fill(self, key: tuple[LayerPath, str, str] | None, value: str) -> None:
        """Show another field's text without reporting it as an edit."""
        self.key = None
        if self.value != value:
            self.value = value
        self.key = key


class FieldLabel(Widget):
    """A field's name: one line of plain text drawn straight into a strip. A Label goes
    through Textual's content pipeline (~0.25 ms a redraw on 2 cores), and the form redraws
    seven of them whenever the selected layer's type changes."""

    DEFAULT_CSS = "FieldLabel { height: 1; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.text = ""

    def update(self, text: str) -> None:
        if text != self.text:
            self.text = text
            self.refresh()

    def render(self) -> Text:
        return Text(self.text)

    def render_line(self, y: int) -> Strip:
        width, style = self.size.width, self.rich_style
        if y:
            return Strip.blank(width, style)
        return Strip([Segment(set_cell_size(self.text, width), style)], width)


class LayerForm(Widget):
    """Inputs for one layer. `show()` refills it; `mark()` flags a field as invalid."""

    DEFAULT_CSS = """
    LayerForm { height: auto; }
    LayerForm #form-title { height: 1; }
    LayerForm #fields { height: auto; layout: grid; grid-size: 6; grid-columns: 14 1fr; grid-rows: 1; }
    LayerForm FieldLabel { width: 14; color: $text-muted; }
    LayerForm FieldInput { width: 1fr; max-width: 10; height: 1; margin-right: 1; }
    LayerForm FieldInput.-invalid { color: $error; }
    """

    @dataclass
    class FieldEdited(Message):
        """A field's text changed (what was typed, not yet validated)."""

        path: LayerPath
        layer_type: str
        field: str
        text: str

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.path: LayerPath | None = None
        self.layer_type: str | None = None
        self.field_names: list[str] = []
        self._labels: list[str] = [""] * SLOTS  # what each slot's label shows

    def compose(self) -> ComposeResult:
        yield Static("", id="form-title")
        # Labels and inputs are the grid's cells themselves: a container per field was 7 more
        # widgets to draw at every change of layer type.
        with Widget(id="fields"):
            for slot in range(SLOTS):
                yield FieldLabel(id=f"label-{slot}")
                yield FieldInput(id=f"input-{slot}", compact=True)  # focus selects the value: typing replaces it

    def _label(self, slot: int, text: str) -> None:
        """A label redrawn only when its text changes (moving between layers of one type
        changes none)."""
        if self._labels[slot] != text:
            self._labels[slot] = text
            self.query_one(f"#label-{slot}", FieldLabel).update(text)

    def _see_through(self, slot: int, shown: bool) -> None:
        """Show a slot's label and input, or make them see-through. Inline style, not a class
        or `display`: a class makes Textual match the stylesheet again for them, and hiding
        lays out the whole screen (10-15 ms a key on 2 cores); a repaint does not."""
        opacity = 1.0 if shown else 0.0
        for widget in (self.query_one(f"#label-{slot}"), self.query_one(f"#input-{slot}")):
            if widget.styles.opacity != opacity:
                widget.styles.opacity = opacity

    def show(self, path: LayerPath | None, layer_type: str | None, texts: dict[str, str], note: str = "") -> None:
        """Fill the slots with the fields of the layer at `path` (None: no layer selected);
        `note` replaces "(no settings)" after the title of a layer without fields."""
        self.path, self.layer_type = path, layer_type
        specs = LAYER_TYPES.get(layer_type, {}) if layer_type else {}
        self.field_names = list(specs)
        if path is None or layer_type is None:
            title = Text("no layer selected · a adds one", style="dim")
        else:
            title = Text(f"layer {path_text(path)} · {layer_type}")
            if note or not specs:
                title.append(f" ({note or 'no settings'})", style="dim")
        self.query_one("#form-title", Static).update(title, layout=False)
        for slot in range(SLOTS):
            field = self.query_one(f"#input-{slot}", FieldInput)
            if slot >= len(self.field_names) and field.styles.opacity == 0:
                continue  # already an empty slot
            if slot < len(self.field_names) and path is not None and layer_type is not None:
                name = self.field_names[slot]
                spec = specs[name]
                self._label(slot, name)
                field.fill((path, layer_type, name), texts.get(name, ""))
                field.placeholder = "required" if spec.required else "default"
                field.can_focus = True
                self._see_through(slot, shown=True)
            else:
                field.fill(None, "")
                self._label(slot, "")  # blank, not only unseen
                field.placeholder = ""
                field.can_focus = False  # a plain attribute, not `disabled` (a class: a restyle)
                self._see_through(slot, shown=False)

    def focus_first(self) -> bool:
        if self.field_names:
            self.query_one("#input-0", Input).focus()
            return True
        return False

    def input_for(self, field: str) -> Input | None:
        if field in self.field_names:
            return self.query_one(f"#input-{self.field_names.index(field)}", Input)
        return None

    def mark(self, field: str | None, reason: str | None) -> None:
        """Flag `field` invalid with the reason as its tooltip; clear every other field."""
        for slot, name in enumerate(self.field_names):
            widget = self.query_one(f"#input-{slot}", Input)
            bad = name == field
            if widget.has_class("-invalid") != bad:
                widget.set_class(bad, "-invalid")
            tooltip = reason if bad and reason else (LAYER_TYPES[self.layer_type][name].help or name)
            if widget.tooltip != tooltip:
                widget.tooltip = tooltip

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()  # FieldInput.Edited carries the edit, with the field it belonged to

    def on_field_input_edited(self, event: FieldInput.Edited) -> None:
        event.stop()
        path, layer_type, field = event.key
        self.post_message(self.FieldEdited(path, layer_type, field, event.text))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.screen.focus_next()
