"""What a trained network says about each test image: its predictions, for the sample gallery.

`predict_session` runs the session's checkpoint over its test set (torch, off the UI thread);
the result is plain data (`Predictions`: the images as bytes, labels, predictions and
confidences) that the gallery filters and draws without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

PAGE_BATCH = 1000  # images per forward pass


@dataclass(frozen=True)
class Sample:
    """One test image and what the network made of it."""

    index: int  # its place in the test set
    label: int
    predicted: int
    confidence: float  # the softmax probability of `predicted`

    @property
    def correct(self) -> bool:
        return self.label == self.predicted


@dataclass(frozen=True)
class Predictions:
    """Every test image of a session with the checkpoint's prediction; `pixels` holds the
    images one after another, C×H×W uint8 each."""

    session: str
    epochs: int  # the checkpoint's epochs
    shape: tuple[int, int, int]
    pixels: bytes
    samples: tuple[Sample, ...]
    class_names: tuple[str, ...]

    def name(self, label: int) -> str:
        return self.class_names[label] if label < len(self.class_names) else f"class {label}"

    def image(self, sample: Sample) -> memoryview:
        size = self.shape[0] * self.shape[1] * self.shape[2]
        return memoryview(self.pixels)[sample.index * size:(sample.index + 1) * size]

    def chosen(self, wrong_only: bool = False, label: int | None = None) -> list[Sample]:
        """The samples to show: all, or only the misclassified; all classes, or one (by true label)."""
        return [s for s in self.samples
                if (not wrong_only or not s.correct) and (label is None or s.label == label)]

    @property
    def accuracy(self) -> float:
        return sum(s.correct for s in self.samples) / max(1, len(self.samples))


def predict_session(session: Any, limit: int | None = None, data_dir: str | None = None) -> Predictions:
    """The session's checkpoint run over its test set (the first `limit` images), on the CPU;
    the dataset read from `data_dir` when given (else where the session trained from).
    Raises SessionError without a checkpoint, DataError without the dataset."""
    from dataclasses import replace

    import torch

    from .build import build_model
    from .data import load_test
    from .datasets import DATASETS

    config = session.config if data_dir is None else replace(session.config, data_dir=data_dir)
    checkpoint = session.load_checkpoint()
    model = build_model(session.architecture, config.input)
    model.load_state_dict(checkpoint.model)
    model.eval()
    test = load_test(config).head(limit)
    labels, predicted, confidence = [], [], []
    with torch.inference_mode():
        for start in range(0, len(test), PAGE_BATCH):
            images = test.images[start:start + PAGE_BATCH].float().div(255)
            probabilities = model(images).softmax(dim=1)
            best, which = probabilities.max(dim=1)
            predicted += which.tolist()
            confidence += best.tolist()
            labels += test.labels[start:start + PAGE_BATCH].tolist()
    samples = tuple(Sample(i, label, guess, round(conf, 6))
                    for i, (label, guess, conf) in enumerate(zip(labels, predicted, confidence)))
    info = DATASETS[config.dataset]
    names = info.class_names or tuple(f"class {i}" for i in range(info.classes))
    return Predictions(session.name, checkpoint.epoch, tuple(config.input), test.images.contiguous().numpy().tobytes(),
                       samples, tuple(names))


def half_block_rows(pixels: Sequence[int], shape: tuple[int, int, int]) -> list[list[tuple[tuple[int, int, int], tuple[int, int, int]]]]:
    """An image as terminal cells, two pixels per cell (the upper half block "▀" in the top
    pixel's colour on the bottom pixel's): rows of (top rgb, bottom rgb). Grey images repeat
    their one channel; an odd last row gets black below."""
    c, h, w = shape
    plane = h * w

    def rgb(y: int, x: int) -> tuple[int, int, int]:
        if y >= h:
            return (0, 0, 0)
        if c >= 3:
            return (pixels[y * w + x], pixels[plane + y * w + x], pixels[2 * plane + y * w + x])
        v = pixels[y * w + x]
        return (v, v, v)

    return [[(rgb(y, x), rgb(y + 1, x)) for x in range(w)] for y in range(0, h, 2)]
