"""The test set's confusion matrix, as the trainer records it in each epoch's metrics line.

`confusion` in a metrics.jsonl line is a list of rows: row = true class, column = predicted
class, each cell a count over the test set. This module reads it back and says what it
shows: per-class accuracy (the share of a class's test images predicted as that class,
i.e. its recall), the pairs of classes most often confused, and a table shaded by count for
the command line and the app. Pure Python, no torch; rich is imported only by
`confusion_table`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from .datasets import DATASETS

if TYPE_CHECKING:
    from rich.table import Table

FIELD = "confusion"  # the metrics line's key


class ConfusionError(ValueError):
    """A matrix that cannot be shown: none recorded, damaged, or not the dataset's classes."""


def check_matrix(value: Any) -> str | None:
    """Why `value` is not a confusion matrix (a square list of rows of counts), or None; the
    reason reads after "... is": `not square (3 rows, one of 2)`."""
    if not isinstance(value, list) or not value:
        return "not a list of rows"
    size = len(value)
    for row in value:
        if not isinstance(row, list) or len(row) != size:
            return f"not square ({size} rows, one of {len(row) if isinstance(row, list) else 'them not a list'})"
        for cell in row:
            if isinstance(cell, bool) or not isinstance(cell, int) or cell < 0:
                return f"not all counts (a cell is {cell!r:.20})"
    return None


def class_names(dataset: str, classes: int | None = None) -> tuple[str, ...]:
    """The dataset's class names, in label order; `class 0`, `class 1`, ... where it has none
    (or, for a matrix of another size than the dataset's, for every class)."""
    info = DATASETS.get(dataset)
    names = info.class_names if info is not None else ()
    count = classes if classes is not None else (info.classes if info is not None else 0)
    if len(names) == count:
        return tuple(names)
    return tuple(f"class {i}" for i in range(count))


@dataclass(frozen=True)
class ConfusedPair:
    """`count` test images of class `true` were predicted as class `predicted`."""

    true: int
    predicted: int
    count: int
    share: float  # of the true class's test images


@dataclass(frozen=True)
class Confusion:
    """One epoch's matrix with its class names."""

    matrix: tuple[tuple[int, ...], ...]
    names: tuple[str, ...]

    @classmethod
    def of(cls, matrix: Any, names: Sequence[str]) -> "Confusion":
        """Checked: square, counts only, one row per class name. Raises ConfusionError."""
        problem = check_matrix(matrix)
        if problem is not None:
            raise ConfusionError(f"the confusion matrix is {problem}")
        if len(matrix) != len(names):
            raise ConfusionError(f"the confusion matrix is {len(matrix)}×{len(matrix)} but the dataset has "
                                 f"{len(names)} classes")
        return cls(tuple(tuple(row) for row in matrix), tuple(names))

    @property
    def classes(self) -> int:
        return len(self.matrix)

    @property
    def total(self) -> int:
        """Test images counted: the whole test set."""
        return sum(map(sum, self.matrix))

    @property
    def correct(self) -> int:
        """The diagonal: test images predicted as their own class."""
        return sum(self.matrix[i][i] for i in range(self.classes))

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.total if self.total else None

    def class_totals(self) -> list[int]:
        """Test images of each true class (the row sums)."""
        return [sum(row) for row in self.matrix]

    def per_class_accuracy(self) -> list[float | None]:
        """Each class's share of its test images predicted right (its recall); None for a
        class with no test images."""
        return [row[i] / total if total else None
                for i, (row, total) in enumerate(zip(self.matrix, self.class_totals()))]

    def confused_pairs(self, limit: int | None = None) -> list[ConfusedPair]:
        """Off-diagonal cells with a count, most images first (ties: by true, then predicted class)."""
        totals = self.class_totals()
        pairs = [ConfusedPair(t, p, n, n / totals[t])
                 for t, row in enumerate(self.matrix) for p, n in enumerate(row) if t != p and n]
        pairs.sort(key=lambda pair: (-pair.count, pair.true, pair.predicted))
        return pairs if limit is None else pairs[:limit]


def recorded(row: dict[str, Any]) -> bool:
    """Does this metrics line carry a matrix (lines from before matrices were recorded do not)?"""
    return FIELD in row


def epoch_confusion(row: dict[str, Any], dataset: str) -> Confusion:
    """The matrix of one metrics line, named with the dataset's classes. Raises ConfusionError
    when the line has none (an older run) or it is damaged."""
    if not recorded(row):
        raise ConfusionError(f"epoch {row.get('epoch')} has no confusion matrix: it was trained before "
                             "cnn-tui recorded them")
    matrix = row[FIELD]
    problem = check_matrix(matrix)
    if problem is not None:
        raise ConfusionError(f"epoch {row.get('epoch')}'s confusion matrix is {problem}")
    return Confusion.of(matrix, class_names(dataset, len(matrix)))


# --- shown: a table shaded by count (the command line and the app) ----------------------

_DIAGONAL = (46, 160, 67)  # green: right
_OFF = (214, 69, 65)  # red: confused
_BASE = (30, 30, 30)


def _shade(share: float, colour: tuple[int, int, int]) -> str:
    """A background from near-black to `colour` as `share` (above 0) goes to 1."""
    level = 0.15 + 0.85 * share ** 0.5  # square root: small counts still show
    r, g, b = (round(base + (c - base) * level) for base, c in zip(_BASE, colour))
    return f"#{r:02x}{g:02x}{b:02x}"


def confusion_table(confusion: Confusion, title: str | None = None) -> "Table":
    """The matrix as a rich table: a row per true class (numbered and named), a column per
    predicted class (numbered), then the class's accuracy. Each cell is shaded by its share
    of the row's images: green on the diagonal, red off it; a cell with no image is a dot.
    Cells sit side by side (no padding), so 10 classes with 4-digit counts fit 80 columns."""
    from rich import box
    from rich.style import Style
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=0, header_style="bold",
                  title=title, title_justify="left")
    width = 1 + max(2, max(len(str(cell)) for row in confusion.matrix for cell in row))  # a space, then the count
    table.add_column("true \\ predicted ", no_wrap=True, overflow="ellipsis", max_width=19)
    for p in range(confusion.classes):
        table.add_column(str(p), justify="right", no_wrap=True, width=width)
    table.add_column("acc.", justify="right", no_wrap=True, min_width=8)
    totals = confusion.class_totals()
    for t, (row, accuracy) in enumerate(zip(confusion.matrix, confusion.per_class_accuracy())):
        cells: list[Text | str] = [f"{t} {confusion.names[t]} "]
        for p, n in enumerate(row):
            if not n:
                cells.append(Text(f"{'·':>{width}}", style="grey50"))
                continue
            colour = _DIAGONAL if p == t else _OFF
            cells.append(Text(f"{n:>{width}}", style=Style(bgcolor=_shade(n / totals[t], colour), color="white",
                                                          bold=p == t)))
        cells.append(f"{accuracy:.1%}" if accuracy is not None else "–")
        table.add_row(*cells)
    return table


def pairs_lines(confusion: Confusion, limit: int = 5) -> list[str]:
    """The most confused pairs in words: `Shirt → T-shirt/top  123  (12.3% of Shirt)`."""
    pairs = confusion.confused_pairs(limit)
    if not pairs:
        return ["no test image was confused"]
    names = confusion.names
    width = max(len(f"{names[p.true]} → {names[p.predicted]}") for p in pairs)
    digits = max(len(f"{p.count:,}") for p in pairs)
    return [f"{names[p.true] + ' → ' + names[p.predicted]:<{width}}  {p.count:>{digits},}  "
            f"({p.share:.1%} of {names[p.true]})" for p in pairs]


def summary_line(confusion: Confusion) -> str:
    """`test accuracy 0.8237 (8,237 of 10,000 images)`."""
    accuracy = confusion.accuracy
    shown = f"{accuracy:.4f}" if accuracy is not None else "–"
    return f"test accuracy {shown} ({confusion.correct:,} of {confusion.total:,} images)"
