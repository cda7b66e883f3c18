"""The selected layer's fields as inputs. Every keystroke is posted up as it happens."""

from __future__ import annotations

from dataclasses import dataclass

from textual.containers import HorizontalGroup
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from ...core.spec import LAYER_TYPES


class LayerForm(Widget):
    """Inputs for one layer. `show()` rebuilds it; `mark()` flags a field as invalid."""

    DEFAULT_CSS = """
    LayerForm { height: auto; max-height: 6; }
    LayerForm #form-title { width: auto; margin-right: 1; }
    LayerForm .field { width: auto; height: 1; margin-right: 1; }
    LayerForm .field Label { width: auto; color: $text-muted; }
    LayerForm .field Input { width: 9; }
    LayerForm .field Input.-invalid { color: $error; }
    LayerForm #fields { height: auto; layout: grid; grid-size: 3; grid-gutter: 0 1; grid-rows: 1; }
    """

    @dataclass
    class FieldEdited(Message):
        """A field's text changed (what was typed, not yet validated)."""

        index: int
        layer_type: str
        field: str
        text: str

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.index: int | None = None
        self.layer_type: str | None = None

    def compose(self):
        yield Static("", id="form-title")
        yield Widget(id="fields")

    async def show(self, index: int | None, layer_type: str | None, texts: dict[str, str]) -> None:
        """Rebuild the inputs for layer `index` (None: no layer selected)."""
        self.index, self.layer_type = index, layer_type
        title = self.query_one("#form-title", Static)
        fields = self.query_one("#fields")
        await fields.remove_children()
        if index is None or layer_type is None:
            title.update("no layer selected · a adds one")
            return
        specs = LAYER_TYPES[layer_type]
        title.update(f"layer {index} · {layer_type}" + ("" if specs else " (no settings)"))
        widgets = []
        for name, spec in specs.items():
            box = HorizontalGroup(classes="field")
            placeholder = "default" if not spec.required else "required"
            widgets.append((box, Label(f"{name} "), Input(texts.get(name, ""), placeholder=placeholder,
                                                          id=f"field-{name}", name=f"{index}:{layer_type}",
                                                          compact=True,
                                                          tooltip=spec.help or name, select_on_focus=False)))
        for box, label, field in widgets:
            await fields.mount(box)
            await box.mount(label, field)

    def mark(self, field: str | None, reason: str | None) -> None:
        """Flag `field` invalid with the reason as its tooltip; clear every other field."""
        for widget in self.query(Input):
            name = (widget.id or "").removeprefix("field-")
            bad = name == field
            widget.set_class(bad, "-invalid")
            if bad and reason:
                widget.tooltip = reason

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id and event.input.id.startswith("field-") and event.input.name:
            # The input names the layer it was made for: a late event from a replaced
            # form must not be applied to whichever layer is selected now.
            index, layer_type = event.input.name.split(":", 1)
            self.post_message(self.FieldEdited(int(index), layer_type, event.input.id.removeprefix("field-"),
                                               event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.screen.focus_next()
