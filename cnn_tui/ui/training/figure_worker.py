"""plotext's figures built in a process of their own.

A chart's figure is pure Python: 5-30 ms of plotext on 2 cores for a chart of the training
pane. Built in a thread, it still held the interpreter the event loop runs in about half of
the time, and a frame drawn meanwhile took twice as long. So one worker process, started with
the app, builds them: a chart says on the event loop which calls plotext is to be made (with
the data as it is then), the worker makes them and sends the figure back as text.

The worker is `python -m cnn_tui.ui.training.figure_worker`, reading pickled requests on its
stdin and answering on its stdout, in a session of its own (the terminal's signals are the
app's). Until it is ready (0.2 s after it starts, on a quiet 2-core machine), and if it
ever stops or stops answering, a figure is built in the app's process as before. It ends with the app's
process: its stdin closes then.
"""

from __future__ import annotations

import pickle
import select
import struct
import subprocess
import sys
import threading
from typing import Any, BinaryIO

from rich.text import Text

Calls = list[tuple[str, tuple, dict]]
READY = b"ready\n"
LONGEST_BUILD = 10.0  # seconds: a worker that has not answered (or started) by then is stopped (figures built here)


class WorkerGone(Exception):
    """The worker stopped or never started: build the figure here."""


class _Worker:
    def __init__(self) -> None:
        self.lock = threading.Lock()  # one request and its answer at a time
        self.process: subprocess.Popen | None = None
        self.ready = False
        self.started = False

    def start(self) -> None:
        with self.lock:
            if self.started:
                return
            self.started = True
            try:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
                answered = select.select([self.process.stdout], [], [], LONGEST_BUILD)[0]
                self.ready = bool(answered) and self.process.stdout.readline() == READY  # type: ignore[union-attr]
            except OSError:
                self.ready = False
            if not self.ready:
                self._stop()

    def build(self, request: tuple) -> Text:
        with self.lock:
            if not self.ready or self.process is None:
                raise WorkerGone
            try:
                _send(self.process.stdin, request)  # type: ignore[arg-type]
                if not select.select([self.process.stdout], [], [], LONGEST_BUILD)[0]:
                    raise EOFError("no answer")
                ok, value = _receive(self.process.stdout)  # type: ignore[arg-type]
            except (OSError, EOFError, pickle.PickleError, struct.error) as exc:
                self._stop()
                raise WorkerGone from exc
        if not ok:
            raise value
        return value

    def _stop(self) -> None:
        self.ready = False
        if self.process is not None:
            self.process.kill()
            self.process.wait()


_worker = _Worker()


def start() -> None:
    """Start the worker and wait until it is ready (once per process: every app shares it)."""
    _worker.start()


def start_in_background() -> None:
    """`start`, in a thread: figures are built here until the worker is ready."""
    threading.Thread(target=start, name="figure worker start", daemon=True).start()


def ready() -> bool:
    """Whether figures go to the worker now."""
    return _worker.ready


def build_elsewhere(calls: Calls, size: tuple[int, int], theme: str) -> Text:
    """The figure `calls` describe at `size` in plotext's `theme`, built by the worker (the
    calling thread waits, without the interpreter). Raises what plotext raised, or WorkerGone
    if the worker is not ready or has stopped."""
    if not _worker.ready:
        raise WorkerGone
    from plotext._dict import themes  # the app's colours are themes registered in this process

    return _worker.build((calls, tuple(size), theme, themes.get(theme)))


def build(plt: Any, calls: Calls, size: tuple[int, int], theme: str) -> Text:
    """The figure `calls` describe, made on plotext figure `plt` (in either process)."""
    width, height = size
    plt.clear_data()
    plt.clear_figure()
    for name, args, kwargs in calls:
        getattr(plt, name)(*args, **kwargs)
    plt.plotsize(width, height)
    plt._set_size(width, height)  # textual-plotext's render does both: sizes do not stick otherwise
    plt.theme(theme)
    return Text.from_ansi(plt.build())


def _send(pipe: BinaryIO, value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(struct.pack("<I", len(data)) + data)
    pipe.flush()


def _receive(pipe: BinaryIO) -> Any:
    head = pipe.read(4)
    if len(head) < 4:
        raise EOFError
    (length,) = struct.unpack("<I", head)
    data = pipe.read(length)
    if len(data) < length:
        raise EOFError
    return pickle.loads(data)  # noqa: S301 - from our own worker or the app that started it


def _serve() -> None:
    """The worker: each request answered with (True, the figure) or (False, what plotext
    raised), until the app's end closes stdin."""
    from plotext._dict import themes
    from textual_plotext.plot import Plot

    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else reaches the answers' pipe (stderr goes nowhere)
    plt = Plot()
    answers.write(READY)
    answers.flush()
    while True:
        try:
            calls, size, theme, colours = _receive(requests)
        except EOFError:
            return
        if colours is not None:
            themes[theme] = colours
        try:
            answer = (True, build(plt, calls, size, theme))
        except Exception as exc:  # noqa: BLE001 - plotext's failure, told to the chart
            try:
                pickle.dumps(exc)
                answer = (False, exc)
            except Exception:  # noqa: BLE001 - one that cannot travel: its kind and words
                answer = (False, RuntimeError(f"{type(exc).__name__}: {exc}"))
        _send(answers, answer)


if __name__ == "__main__":
    _serve()
