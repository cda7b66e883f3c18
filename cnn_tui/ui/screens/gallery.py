"""The sample gallery: a session's test images with their true and predicted labels."""

from __future__ import annotations

import math
from typing import Any

from rich.columns import Columns
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, Static

from ...core.gallery import Predictions, predict_session
from ...render import sample_card
from .backdrop import DimmedBackdrop

CARD_GAP = 2  # columns between cards


class GalleryScreen(DimmedBackdrop[None]):
    """Predictions are worked out in a thread when the screen opens; then `w` shows only the
    misclassified images, left / right choose a class (by true label), pageup / pagedown page."""

    BINDINGS = [
        Binding("escape,q", "dismiss", "close"),
        Binding("w", "toggle_wrong", "wrong only"),
        Binding("right", "label(1)", "next class"),
        Binding("left", "label(-1)", "previous class"),
        Binding("pagedown,space", "page(1)", "next page"),
        Binding("pageup", "page(-1)", "previous page"),
    ]
    DEFAULT_CSS = """
    GalleryScreen { align: center middle; }
    GalleryScreen > Vertical { width: 96%; height: 94%; border: round $accent; background: $surface; padding: 0 1; }
    GalleryScreen #gallery-title { width: 100%; }
    GalleryScreen #gallery-cards { height: 1fr; }
    GalleryScreen .hint { color: $text-muted; }
    """

    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = session
        self.predictions: Predictions | None = None
        self.wrong_only = False
        self.label: int | None = None
        self.page = 0

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Gallery · {self.session.name} · predicting…", id="gallery-title")
            yield Static("", id="gallery-cards")
            yield Label("w: misclassified only · ←/→: class · pgup/pgdn: page · escape closes", classes="hint")

    def on_mount(self) -> None:
        self.predict()

    @work(thread=True, exit_on_error=False, description="predict the test images")
    def predict(self) -> None:
        try:
            predictions = predict_session(self.session)
        except Exception as exc:  # noqa: BLE001 - no checkpoint, no dataset, ...: said, the app goes on
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self._show, predictions)

    def _failed(self, reason: str) -> None:
        self.query_one("#gallery-title", Label).update(f"Gallery · {self.session.name}")
        self.query_one("#gallery-cards", Static).update(Text(f"cannot predict: {reason}", style="red"))

    def _show(self, predictions: Predictions) -> None:
        self.predictions = predictions
        self.redraw()

    def on_resize(self) -> None:
        self.redraw()

    def per_page(self) -> int:
        """How many cards fit the screen: image width by half its height, plus two caption lines."""
        assert self.predictions is not None
        _, h, w = self.predictions.shape
        cards = self.query_one("#gallery-cards", Static).size
        across = max(1, (cards.width + CARD_GAP) // (w + CARD_GAP))
        down = max(1, (cards.height + 1) // (math.ceil(h / 2) + 3))
        return across * down

    def redraw(self) -> None:
        predictions = self.predictions
        if predictions is None:
            return
        chosen = predictions.chosen(self.wrong_only, self.label)
        count = self.per_page()
        pages = max(1, math.ceil(len(chosen) / count))
        self.page = max(0, min(self.page, pages - 1))
        shown = chosen[self.page * count:(self.page + 1) * count]
        what = ("misclassified " if self.wrong_only else "") + (
            f"{predictions.name(self.label)} " if self.label is not None else "")
        self.query_one("#gallery-title", Label).update(
            f"Gallery · {predictions.session} after {predictions.epochs} epochs · {predictions.accuracy:.2%} of "
            f"{len(predictions.samples):,} test images right · {len(chosen):,} {what}images · page {self.page + 1}/{pages}")
        cards = self.query_one("#gallery-cards", Static)
        if shown:
            cards.update(Columns([sample_card(predictions, s) for s in shown], padding=(0, CARD_GAP)))
        else:
            cards.update(Text("no images here" + (": the network gets every one right" if self.wrong_only else ""),
                              style="dim"))

    def action_toggle_wrong(self) -> None:
        self.wrong_only, self.page = not self.wrong_only, 0
        self.redraw()

    def action_label(self, step: int) -> None:
        if self.predictions is None:
            return
        options: list[int | None] = [None, *range(len(self.predictions.class_names))]
        self.label, self.page = options[(options.index(self.label) + step) % len(options)], 0
        self.redraw()

    def action_page(self, step: int) -> None:
        self.page += step
        self.redraw()
