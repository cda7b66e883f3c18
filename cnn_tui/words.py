"""Small wording helpers shared by the app and the command line. Pure Python."""

from __future__ import annotations

import re
from typing import Any, TypeVar


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`1 epoch`, `2 epochs`, `1,000 images`: the number and the noun that agrees with it."""
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


# --- settings named for whoever reads the message ---------------------------------------

# How the command line spells a setting that is not just `--` + the name with dashes.
_FLAG_NAMES = {"input_shape": "--input"}
# The settings the app's configuration form shows, by the label it shows them with.
_FORM_LABELS = {"dataset": "data", "device": "device", "optimizer": "optimizer", "lr": "lr",
                "batch_size": "batch", "epochs": "epochs", "seed": "seed", "threads": "threads", "amp": "amp"}
# Every setting a message may name: TrainConfig's fields and the command's own options.
SETTINGS = frozenset({
    "dataset", "data_dir", "epochs", "batch_size", "lr", "optimizer", "momentum", "seed", "shuffle", "device",
    "threads", "train_size", "test_size", "input_shape", "amp", "session", "sessions_dir", "resume", "force", "exact",
    "detach", "nproc_per_node", "nnodes", "node_rank", "rdzv_endpoint",
})
_SETTING = re.compile(r"\{(" + "|".join(sorted(SETTINGS)) + r")\}")


def kernels_off(reason: str) -> str:
    """Said when the CPU's conv + pool kernel cannot be had (core/native.py gives the reason)."""
    return f"no conv+pool kernel, slower: {reason}"


def flag(setting: str) -> str:
    """`batch_size` as the command line spells it: `--batch-size`."""
    return _FLAG_NAMES.get(setting, "--" + setting.replace("_", "-"))


class SettingError(ValueError):
    """A mistake in a setting, worded for whoever reads it.

    `text` names settings in braces ("{lr} must be a positive number, got -1"); `setting`
    is the one to change, and `value` one that would work. str() is the neutral wording
    ("lr must be ..., try lr 0.001"); the command line names flags (`worded(exc, "cli")`:
    "--lr must be ...; try --lr 0.001") and the app its fields ("lr: must be ...; try 0.001").
    """

    def __init__(self, text: str, setting: str | None = None, value: Any = None) -> None:
        self.text, self.setting, self.value = text, setting, value
        super().__init__(self.for_audience("neutral"))

    def for_audience(self, audience: str) -> str:
        if audience == "cli":
            body = _SETTING.sub(lambda m: flag(m[1]), self.text)
            return body + (f"; try {flag(self.setting)} {self.value}" if self.value is not None else "")
        if audience == "app":
            label = _FORM_LABELS.get(self.setting or "")
            text = self.text
            if label and text.startswith(f"{{{self.setting}}} "):
                text = text[len(self.setting or "") + 3:]  # "lr: must be ...", not "lr: lr must be ..."
            body = _SETTING.sub(lambda m: _FORM_LABELS.get(m[1]) or flag(m[1]), text)
            if not label:
                return body + (f"; try {flag(self.setting or '')} {self.value}" if self.value is not None else "")
            return f"{label}: {body}" + (f"; try {self.value}" if self.value is not None else "")
        body = _SETTING.sub(lambda m: m[1].replace("_", " "), self.text)
        if self.value is None:
            return body
        return body + f"; try {(self.setting or '').replace('_', ' ')} {self.value}"


Problem = TypeVar("Problem", bound=Exception)


def blaming(kind: type[Problem], text: str, setting: str | None = None, value: Any = None) -> Problem:
    """An error of `kind` (TrainingRefused, SessionError, ...) raised because of a setting:
    its message is neutral, and `worded` finds the SettingError behind it."""
    problem = SettingError(text, setting, value)
    error = kind(str(problem))
    error.__cause__ = problem
    return error


def worded(exc: BaseException, audience: str) -> str:
    """An error's message for the command line (`"cli"`) or the app (`"app"`): a SettingError
    (itself, or the cause it was raised from) names flags or fields; anything else as it is."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, SettingError):
            return seen.for_audience(audience)
        seen = seen.__cause__
    return str(exc)
