"""Totals under the layer table."""

from __future__ import annotations

from textual.widgets import Static

from ...core.shapes import ArchitectureSummary
from ...render import human_bytes


class Totals(Static):
    DEFAULT_CSS = """
    Totals { height: auto; color: $text-muted; }
    """

    def show(self, summary: ArchitectureSummary) -> None:
        prefix = "" if summary.ok else "up to the error: "
        self.update(
            f"{prefix}params [b]{summary.total_params:,}[/b] ({human_bytes(summary.param_bytes)}; "
            f"{human_bytes(summary.train_state_bytes)} with Adam) · MACs [b]{summary.total_macs:,}[/b] · "
            f"[b]{summary.counted_layers}[/b] layers · activations {human_bytes(summary.activation_bytes)} "
            f"per batch of {summary.batch_size}"
        )
