"""The current epoch's progress: a bar, then a line of batches, images/s, ETA and running loss."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from ...core.events import BatchProgress


def format_eta(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class EpochProgress(Vertical):
    """Two rows so that the whole line shows in a 45-column pane; the text wraps, never cuts."""

    DEFAULT_CSS = """
    EpochProgress { height: auto; }
    EpochProgress ProgressBar { width: 1fr; }
    EpochProgress ProgressBar Bar { width: 1fr; }
    EpochProgress #progress-text { height: auto; color: $text-muted; }
    """

    _rows = 1  # rows the text took when last shown (the empty line drawn at start: one)

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=1, show_eta=False, show_percentage=True, id="bar")
        yield Static("", id="progress-text")

    def show(self, event: BatchProgress, epochs: int) -> None:
        bar = self.query_one(ProgressBar)
        bar.update(total=event.batches, progress=event.batch)
        where = f"epoch {event.epoch + 1}/{epochs} · batch {event.batch}/{event.batches}"
        if event.batch == 0:  # paused (or stopping) before the epoch's first batch: nothing measured yet
            self._set_text(f"{where} · not started")
            return
        self._set_text(f"{where} · {event.images_per_second:,.0f} img/s · ETA {format_eta(event.eta_seconds)} · "
                       f"loss {event.mean_loss:.4f}")

    def show_text(self, text: str, done: bool | None = None) -> None:
        bar = self.query_one(ProgressBar)
        if done is True:
            bar.update(total=1, progress=1)
        elif done is False:
            bar.update(total=1, progress=0)
        self._set_text(text)

    def _set_text(self, text: str) -> None:
        """A new line of text; the screen is laid out again only when it wraps onto a different
        number of rows (a relayout of the whole screen twice a second is most of what a
        watcher costs the machine)."""
        label = self.query_one("#progress-text", Static)
        width = label.content_region.width
        rows = len(Text(text).wrap(self.app.console, width)) if width > 0 else -1
        label.update(text, layout=rows != self._rows or rows < 0)
        self._rows = rows
