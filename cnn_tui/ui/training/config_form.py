"""The training configuration: dataset, device, optimizer, lr, batch size, epochs, seed, shuffle,
threads, processes and mixed precision."""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual.app import ComposeResult
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select

from ...core.config import AMP_DTYPES, DEVICES, OPTIMIZERS, TrainConfig
from ...core.datasets import DATASETS
from ...core.distributed import process_count
from ...words import worded


def _threads(text: str) -> int | None:
    """Empty means: let the trainer choose from the free cores."""
    return int(text) if text else None


NUMBER_FIELDS = {  # input id -> (config attribute, parser, what it must be)
    "lr": ("lr", float, "a positive number"),
    "batch": ("batch_size", int, "a whole number ≥ 1"),
    "epochs": ("epochs", int, "a whole number ≥ 1"),
    "seed": ("seed", int, "a whole number"),
    "threads": ("threads", _threads, "a whole number ≥ 1, or empty to choose from the free cores"),
}


NO_AMP = "off"  # the amp choice for float32 throughout


def _shown(attr: str, value: object) -> str:
    if value is None:
        return ""
    return f"{value:g}" if attr == "lr" else str(value)


def processes_text(text: str) -> str:
    """The processes field: a whole number ≥ 1, or auto (every visible GPU); empty is 1.
    Raises ValueError (a SettingError) otherwise."""
    count = process_count(text or "1")
    return "auto" if count is None else str(count)


class ConfigForm(Widget):
    """Posts Changed with a valid TrainConfig, or with the reason it is not valid, and the
    number of processes to train with (several: a distributed run, in the background)."""

    DEFAULT_CSS = """
    ConfigForm { height: auto; layout: grid; grid-size: 4; grid-columns: auto 1fr; grid-gutter: 0 1; grid-rows: 1; }
    ConfigForm Label { color: $text-muted; }
    ConfigForm Input.-invalid { color: $error; }
    ConfigForm Checkbox { border: none; padding: 0; height: 1; }
    """

    @dataclass
    class Changed(Message):
        config: TrainConfig | None
        error: str | None
        processes: str = "1"

    def __init__(self, config: TrainConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        self.base = config  # fields the form does not show (data dir, sizes, input) come from here
        self.config: TrainConfig | None = config
        self.processes = "1"

    def compose(self) -> ComposeResult:
        c = self.base
        yield Label("data")
        yield Select([(name, name) for name in DATASETS], value=c.dataset, allow_blank=False, compact=True, id="dataset")
        yield Label("device")
        yield Select([(name, name) for name in DEVICES], value=c.device, allow_blank=False, compact=True, id="device")
        yield Label("optim")
        yield Select([(name, name) for name in OPTIMIZERS], value=c.optimizer, allow_blank=False, compact=True, id="optimizer")
        yield Label("")
        yield Checkbox("shuffle", c.shuffle, compact=True, id="shuffle")
        for key, (attr, _, _) in NUMBER_FIELDS.items():
            yield Label(key)
            yield Input(_shown(attr, getattr(c, attr)), compact=True, id=f"cfg-{key}",
                        placeholder="auto" if attr == "threads" else "")
        yield Label("procs")
        yield Input("1", compact=True, id="cfg-procs", tooltip="processes: several train one run together "
                    "(one per GPU; auto: every GPU), in the background")
        yield Label("amp")
        yield Select([(name, name) for name in (NO_AMP, *AMP_DTYPES)], value=c.amp or NO_AMP, allow_blank=False,
                     compact=True, id="amp", tooltip="mixed precision: forward passes in bf16 or fp16, weights in "
                     "float32 (on a CPU, fp16 is many times slower: use bf16 or off)")

    def load(self, config: TrainConfig, processes: str = "1") -> None:
        """Show another configuration (an opened session's, and how many processes trained it)."""
        self.base = config
        self.query_one("#cfg-procs", Input).value = processes
        self.query_one("#dataset", Select).value = config.dataset
        self.query_one("#device", Select).value = config.device
        self.query_one("#optimizer", Select).value = config.optimizer
        self.query_one("#shuffle", Checkbox).value = config.shuffle
        self.query_one("#amp", Select).value = config.amp or NO_AMP
        for key, (attr, _, _) in NUMBER_FIELDS.items():
            self.query_one(f"#cfg-{key}", Input).value = _shown(attr, getattr(config, attr))
        self._rebuild()

    def set_disabled(self, disabled: bool) -> None:
        """While training, the configuration is fixed."""
        for widget in self.query("Select, Input, Checkbox"):
            widget.disabled = disabled

    def _rebuild(self) -> None:
        changes: dict = {
            "dataset": self.query_one("#dataset", Select).value,
            "device": self.query_one("#device", Select).value,
            "optimizer": self.query_one("#optimizer", Select).value,
            "shuffle": self.query_one("#shuffle", Checkbox).value,
        }
        amp = self.query_one("#amp", Select).value
        changes["amp"] = None if amp == NO_AMP else amp
        error = None
        for key, (attr, parse, what) in NUMBER_FIELDS.items():
            widget = self.query_one(f"#cfg-{key}", Input)
            try:
                changes[attr] = parse(widget.value.strip())
                widget.remove_class("-invalid")
            except ValueError:
                widget.add_class("-invalid")
                error = error or f"{key} must be {what}, got {widget.value.strip()!r}"
        procs = self.query_one("#cfg-procs", Input)
        try:
            self.processes = processes_text(procs.value)
            procs.remove_class("-invalid")
        except ValueError:
            procs.add_class("-invalid")
            error = error or f"procs must be a whole number ≥ 1 or auto, got {procs.value.strip()!r}"
        config = None
        if error is None:
            config = replace(self.base, **changes).input_kept_for_synthetic()
            try:
                config.validate()
            except ValueError as exc:
                error, config = worded(exc, "app"), None
        self.config = config
        self.post_message(self.Changed(config, error, self.processes))

    def focus_first(self) -> None:
        self.query_one("#dataset", Select).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._rebuild()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._rebuild()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._rebuild()
