"""Mixed precision (`amp`): forward passes under autocast, float32 weights, fp16's loss
scale kept across a resume, and `exact` refusing it. Runs on the CPU, where torch's autocast
takes bf16 and fp16 alike; on a GPU the same code runs on tensor cores."""

from __future__ import annotations

import functools
import math

import pytest
import torch

import cnn_tui.core.trainer as trainer
from cnn_tui.core.config import TrainConfig
from cnn_tui.core.prepare import TrainingRefused
from cnn_tui.core.sessions import SessionStore
from cnn_tui.words import worded

from .test_trainer import numbers, run


@pytest.mark.parametrize("amp, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_amp_trains_in_the_lower_precision_with_float32_weights(tmp_path, monkeypatch, amp, dtype):
    seen: set[torch.dtype] = set()
    build = trainer.build_model

    def recording_build(*args, **kwargs):
        net = build(*args, **kwargs)
        first_conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
        first_conv.register_forward_hook(lambda module, inputs, output: seen.add(output.dtype))
        return net

    monkeypatch.setattr(trainer, "build_model", recording_build)
    ended, store = run(tmp_path, epochs=3, train_size=2000, amp=amp)
    assert ended.status == "finished", ended.reason
    assert seen == {dtype}  # every forward pass, training and evaluation
    session = store.open("s")
    assert session.record.config["amp"] == amp
    rows, _ = session.read_metrics()
    assert all(math.isfinite(row["total_loss"]) for row in rows)
    assert rows[-1]["test_accuracy"] > 0.5  # it learns, as float32 does (chance is 0.1)
    weights = session.load_checkpoint().model
    assert all(t.dtype == torch.float32 for t in weights.values() if t.is_floating_point())


def test_float32_is_the_default_and_runs_no_autocast(tmp_path, monkeypatch):
    casts = []
    monkeypatch.setattr(torch, "autocast", lambda *a, **k: casts.append(k))
    ended, store = run(tmp_path, epochs=1)
    assert ended.status == "finished" and casts == []
    assert store.open("s").record.config["amp"] is None
    assert store.open("s").load_checkpoint().scaler is None


def test_fp16_keeps_its_loss_scale_across_a_resume(tmp_path, monkeypatch):
    # The scale grows after every 5 steps without an overflow here (2,000 by default), so
    # it moves within these few batches and a resume that started it afresh would differ.
    monkeypatch.setattr(torch.amp, "GradScaler", functools.partial(torch.amp.GradScaler, growth_interval=5))
    run(tmp_path, "straight", epochs=4, amp="fp16")
    run(tmp_path, "split", epochs=2, amp="fp16")
    store = SessionStore(tmp_path / "sessions")
    assert store.open("split").load_checkpoint().scaler["scale"] != 2.0**16
    ended, store = run(tmp_path, "split", resume=True, epochs=4)
    assert ended.status == "finished" and ended.epochs_done == 4
    assert numbers(store, "split") == numbers(store, "straight")


def test_exact_refuses_mixed_precision_before_anything_is_written(tmp_path):
    with pytest.raises(TrainingRefused) as refused:
        run(tmp_path, exact=True, amp="bf16")
    assert "--exact reproduces the reference loop in float32" in worded(refused.value, "cli")
    assert not (tmp_path / "sessions" / "s").exists()
    run(tmp_path, "mixed", epochs=1, amp="bf16")  # a session that trains in bf16 ...
    with pytest.raises(TrainingRefused, match="bf16"):  # ... is not resumed exactly either
        run(tmp_path, "mixed", resume=True, exact=True, epochs=2)


def test_an_unknown_precision_names_the_setting():
    with pytest.raises(ValueError) as wrong:
        TrainConfig(amp="fp8").validate()
    assert worded(wrong.value, "cli") == '--amp "fp8" is unknown; choose bf16 or fp16, or leave it out'
    with pytest.raises(ValueError, match="amp is 16"):
        TrainConfig.from_json({"amp": 16})
    assert TrainConfig.from_json({"amp": "bf16"}).amp == "bf16"
    assert TrainConfig.from_json({}).amp is None  # sessions written before it existed


def test_the_notes_at_start_name_what_works_but_surprises():
    from cnn_tui.core.config import TrainConfig

    plain = TrainConfig(batch_size=100)
    assert plain.notes_at_start("cpu", 60_000) == []
    assert TrainConfig(amp="fp16").notes_at_start("cuda:0", 60_000) == []  # a tensor-core type there
    assert TrainConfig(amp="bf16").notes_at_start("cpu", 60_000) == []
    slow, = TrainConfig(amp="fp16").notes_at_start("cpu", 60_000)
    assert slow.for_audience("cli").startswith("--amp fp16 has no fast kernels on a CPU")
    assert slow.for_audience("app").startswith("amp: fp16 has no fast kernels") and slow.for_audience("app").endswith("try bf16")
    big, = plain.notes_at_start("cpu", 50)
    assert big.for_audience("app").startswith("batch: 100 is more than the 50 training images")
