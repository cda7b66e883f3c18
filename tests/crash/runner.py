"""Run `cnn-tui` and SIGKILL it at one exact point of writing a session (a test helper).

    python tests/crash/runner.py POINT EPOCH -- train ARGS...

POINT is where the process dies while finishing epoch EPOCH (0-based):
  metrics-mid        half of the epoch's metrics line is on disk
  metrics-after      the metrics line is on disk, the checkpoint not yet
  checkpoint-mid     half of the checkpoint's bytes are written (wherever they are written)
  checkpoint-before-rename   a finished temporary checkpoint, not yet renamed
  checkpoint-after-rename    the checkpoint is in place, session.json not yet updated

The hooks wrap the public pieces a session write goes through (Session.append_metrics,
torch.save, os.replace), not their insides, so they still bite if those insides change.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(point: str, epoch: int) -> None:
    import torch

    from cnn_tui.core import sessions

    state = {"epoch": None}  # the epoch whose metrics were just appended
    real_append = sessions.Session.append_metrics

    def append_metrics(self, metrics):
        state["epoch"] = metrics["epoch"]
        if metrics["epoch"] == epoch and point == "metrics-mid":
            line = json.dumps({k: metrics[k] for k in sessions.METRIC_FIELDS}) + "\n"
            with open(self.metrics_file, "a", encoding="utf-8") as handle:
                handle.write(line[: len(line) // 2])
                handle.flush()
                os.fsync(handle.fileno())
            die()
        real_append(self, metrics)
        if metrics["epoch"] == epoch and point == "metrics-after":
            die()

    real_save = torch.save

    def save(obj, target, *args, **kwargs):
        if state["epoch"] == epoch and point == "checkpoint-mid":
            buffer = io.BytesIO()
            real_save(obj, buffer, *args, **kwargs)
            half = buffer.getvalue()[: len(buffer.getvalue()) // 2]
            if isinstance(target, (str, os.PathLike)):
                with open(target, "wb") as handle:
                    handle.write(half)
                    handle.flush()
                    os.fsync(handle.fileno())
            else:
                target.write(half)
                if hasattr(target, "fileno") and not isinstance(target, io.BytesIO):
                    target.flush()
                    os.fsync(target.fileno())
            die()
        return real_save(obj, target, *args, **kwargs)

    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        is_checkpoint = os.fspath(dst).endswith(sessions.CHECKPOINT_FILE)
        if is_checkpoint and state["epoch"] == epoch and point == "checkpoint-before-rename":
            die()
        real_replace(src, dst, *args, **kwargs)
        if is_checkpoint and state["epoch"] == epoch and point == "checkpoint-after-rename":
            die()

    torch.save = save
    os.replace = replace
    sessions.Session.append_metrics = append_metrics


if __name__ == "__main__":
    point, epoch, separator, *argv = sys.argv[1:]
    assert separator == "--"
    install(point, int(epoch))
    from cnn_tui.cli import main

    sys.exit(main(argv))
