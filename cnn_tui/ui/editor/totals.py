"""Totals under the layer table."""

from __future__ import annotations

from rich.filesize import decimal
from rich.text import Text
from textual.widgets import Static

from ...core.shapes import ArchitectureSummary


def totals_text(summary: ArchitectureSummary) -> Text:
    """The totals line. Each total walks every layer (8 ms at 40,000 layers), so a large
    draft's is worked out in a thread with its other numbers."""
    text = Text("" if summary.ok else "up to the error: ")
    text.append("params ").append(f"{summary.total_params:,}", style="bold")
    text.append(f" ({decimal(summary.param_bytes)}; {decimal(summary.train_state_bytes)} with Adam)")
    text.append(" · MACs ").append(f"{summary.total_macs:,}", style="bold")
    text.append(" · ").append(str(summary.counted_layers), style="bold")
    text.append(" layer" if summary.counted_layers == 1 else " layers")
    text.append(f" · activations {decimal(summary.activation_bytes)} per batch of {summary.batch_size}")
    return text


class Totals(Static):
    DEFAULT_CSS = """
    Totals { height: auto; color: $text-muted; }
    """

    _shown = ""
    _lines = 0

    def show(self, text: Text) -> None:
        """Show `text` (from `totals_text`): unchanged, nothing happens; a layout pass only
        when it wraps to another number of lines."""
        if text.plain == self._shown:
            return
        self._shown = text.plain
        lines = len(text.wrap(self.app.console, max(1, self.content_region.width)))
        self.update(text, layout=lines != self._lines)
        self._lines = lines

    def on_resize(self) -> None:
        self._lines = 0  # the next new text lays out again at the new width
