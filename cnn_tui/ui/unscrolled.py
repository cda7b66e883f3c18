"""Widgets that never scroll, resized without a second layout pass of the screen."""

from __future__ import annotations

from textual.geometry import Size


class WithoutScrollbars:
    """For a widget that never scrolls (a chart, the box of charts, a table's scrollbar): its
    new size is all a resize needs.

    Textual sets a resized widget's scrollable size through a reactive that asks for one more
    layout pass of the whole screen, which only a widget with scrollbars can need. For the
    charts that was a second layout after every change of their size (5-8 ms on 2 cores), as
    the epoch table grows; for the epoch table's scrollbar, another at each row it grew by.
    A plain class, put first among the bases: Textual takes default CSS from the first base
    that is a widget."""

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        return super()._size_updated(size, virtual_size, container_size, layout=False)  # type: ignore[misc]
