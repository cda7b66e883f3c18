"""Rich renderings for the command line (formatting only: the numbers come from the core)."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from .core.sessions import SessionInfo
from .core.shapes import ArchitectureSummary
from .core.spec import format_shape


def human_bytes(n: float, precision: int = 1) -> str:
    """Bytes as B / KB / MB / GB (powers of 1000, as the spec's MB)."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.{precision}f} {unit}"
        n /= 1000
    raise AssertionError


def compact_bytes(n: float) -> str:
    """Bytes in at most six characters for narrow tables: `1.4M`, `345.6K`."""
    for unit in ("B", "K", "M", "G"):
        if abs(n) < 1000 or unit == "G":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1000
    raise AssertionError


def summary_table(summary: ArchitectureSummary) -> Table:
    """torchinfo-style table: one row per layer, totals in the footer. Fits 80 columns."""
    table = Table(
        title=f"input {format_shape(summary.input_shape)} · batch {summary.batch_size}",
        show_footer=True, header_style="bold", footer_style="bold", title_style="",
        box=box.SIMPLE_HEAD, pad_edge=False,
    )
    table.add_column("#", justify="right", footer="")
    table.add_column("layer", footer=f"total: {summary.counted_layers} layers", overflow="ellipsis")
    table.add_column("output", justify="right", footer=format_shape(summary.output_shape))
    table.add_column("params", justify="right", footer=f"{summary.total_params:,}")
    table.add_column("MACs", justify="right", footer=f"{summary.total_macs:,}")
    table.add_column("RF", justify="right", footer="")
    table.add_column("memory", justify="right", footer=compact_bytes(summary.activation_bytes))
    for column in table.columns:
        column.no_wrap = True
    for info in summary.layers:
        name = f"[bold]{info.type}[/]" if info.counted else info.type
        if info.implicit_flatten:
            name += " [dim](flattens)[/]"
        if info.settings:
            name += f" [dim]{info.settings}[/]"
        table.add_row(
            str(info.index),
            name,
            format_shape(info.output_shape),
            f"{info.params:,}" if info.params else "–",
            f"{info.macs:,}" if info.macs else "–",
            format_shape(info.receptive_field) if info.receptive_field else "–",
            compact_bytes(info.output_bytes),
        )
    return table


def summary_totals_line(summary: ArchitectureSummary) -> str:
    return (
        f"params {summary.total_params:,} ({human_bytes(summary.param_bytes)}, "
        f"{human_bytes(summary.train_state_bytes)} with Adam state) · "
        f"MACs {summary.total_macs:,} · {summary.counted_layers} counted layers (conv + linear) · "
        f"activations {human_bytes(summary.activation_bytes)} per batch of {summary.batch_size}"
    )


def print_summary(summary: ArchitectureSummary, console: Console | None = None) -> None:
    console = console or Console()
    console.print(summary_table(summary))
    console.print(summary_totals_line(summary), highlight=False)


STATUS_STYLES = {"finished": "green", "running": "cyan", "stopped": "yellow", "interrupted": "yellow", "failed": "red"}


def live_progress(progress: dict | None) -> str:
    """A live run's place: `epoch 3/5 · batch 120/600 · 9,800 img/s` (epochs counted from 1)."""
    if not progress:
        return "starting"
    try:
        text = (f"epoch {int(progress['epoch']) + 1}/{int(progress.get('epochs') or 0) or '?'} · "
                f"batch {int(progress['batch'])}/{int(progress['batches'])} · "
                f"{float(progress['images_per_second']):,.0f} img/s")
    except (KeyError, TypeError, ValueError):
        return "?"
    state = progress.get("state")
    return f"{text} · {state}" if state in ("paused", "stopping") else text


def sessions_table(infos: list[SessionInfo]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")
    for name, justify in (("session", "left"), ("status", "left"), ("epochs", "right"),
                          ("best acc", "right"), ("dataset", "left"), ("updated", "left"), ("live", "left")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for info in infos:
        style = STATUS_STYLES.get(info.status, "")
        table.add_row(
            info.name,
            f"[{style}]{info.status}[/]" if style else info.status,
            f"{info.epochs_done}/{info.epochs_target}",
            f"{info.best_test_accuracy:.4f}" if info.best_test_accuracy is not None else "–",
            info.dataset,
            info.updated.replace("T", " ")[5:16],  # MM-DD HH:MM
            f"[cyan]● {live_progress(info.progress)}[/]" if info.live else "",
        )
    return table
