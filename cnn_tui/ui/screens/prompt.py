"""Ask for one line of text (a file path, a session name)."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Input, Label

from .backdrop import DimmedBackdrop


class PromptRefused(Exception):
    """Raised by a prompt's check: the text cannot be used, and the message says why. The
    prompt stays open with the message under the text, so it can be corrected."""


Check = Callable[[str], Awaitable[Any]]
READING_DELAY = 0.2  # seconds a check runs before the prompt says it is reading


class TextPrompt(DimmedBackdrop[Any]):
    """Dismisses with the text (stripped), or None on escape or when left empty.

    With `check`, the text is first handed to it (a coroutine: read the file, prepare what
    to show) while the prompt stays up; the prompt dismisses with what it returns, or shows
    why it refused. Whoever opened the prompt then changes the screen in the same step as the
    prompt closes: one layout pass instead of one for closing and more for what follows."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]
    DEFAULT_CSS = """
    TextPrompt { align: center middle; }
    TextPrompt > Vertical { width: 70%; min-width: 40; height: auto; border: round $accent; background: $surface; padding: 0 1; }
    TextPrompt .hint { color: $text-muted; }
    TextPrompt #problem { color: $error; display: none; }
    TextPrompt #problem.-shown { display: block; }
    """

    def __init__(self, title: str, value: str = "", hint: str = "", check: Check | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.hint = hint
        self.check = check
        self.problem = ""  # why the check refused the text last submitted

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, markup=False)
            yield Input(self.value, id="text", select_on_focus=False)
            yield Label("", id="problem", markup=False)
            if self.hint:
                yield Label(self.hint, classes="hint", markup=False)
            yield Label("enter to confirm · escape to cancel", classes="hint")

    def on_mount(self) -> None:
        # The offered text is selected: typing replaces it, an arrow key or end keeps it.
        self.query_one(Input).select_all()

    def _say(self, problem: str) -> None:
        self.problem = problem
        label = self.query_one("#problem", Label)
        label.update(problem)
        label.set_class(bool(problem), "-shown")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text or self.check is None:
            self.dismiss(text or None)
            return
        # "reading…" in place of an earlier problem at once; otherwise only for a check that
        # takes a while: the line shown laid the dialog out again, in the frame that closed
        # it when the file was read in a few milliseconds.
        if self.problem:
            self._say("reading…")
        reading = self.set_timer(READING_DELAY, lambda: self._say("reading…"))
        self.run_worker(self._checked(text, reading), exclusive=True, group="check")

    async def _checked(self, text: str, reading: Timer) -> None:
        assert self.check is not None
        try:
            result = await self.check(text)
        except PromptRefused as exc:
            self._say(str(exc))
            return
        finally:
            reading.stop()
        if self.is_current:  # not cancelled meanwhile
            self.dismiss(result)

    def action_cancel(self) -> None:
        self.workers.cancel_group(self, "check")
        self.dismiss(None)
