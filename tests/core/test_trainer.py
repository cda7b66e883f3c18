"""The training engine on small data: events, numbers, controls, guards, resume."""

from __future__ import annotations

import threading
import time

import pytest

from cnn_tui.core.config import TrainConfig
from cnn_tui.core.events import (
    BatchProgress,
    EpochFinished,
    EpochStarted,
    TrainingControl,
    TrainingEnded,
    TrainingStarted,
)
from cnn_tui.core.presets import preset
from cnn_tui.core.sessions import METRIC_FIELDS, SessionStore
from cnn_tui.core.spec import Architecture
from cnn_tui.core.trainer import TrainingRefused, train
from cnn_tui.words import count, worded

SMALL = dict(dataset="synthetic", train_size=600, test_size=200, batch_size=50)
VARYING = ("seconds", "images_per_second", "peak_memory_bytes", "threads")  # measured, not computed; everything else must be equal


def run(tmp_path, name="s", arch=None, events=None, control=None, resume=False, exact=False, **config):
    store = SessionStore(tmp_path / "sessions")
    sink = events.append if events is not None else (lambda e: None)
    ended = train(arch if arch is not None or resume else preset("seed"), TrainConfig(**{**SMALL, **config}),
                  store, name, resume, sink, control, exact=exact)
    return ended, store


def numbers(store, name):
    rows, warnings = store.open(name).read_metrics()
    assert warnings == []
    return [{k: v for k, v in row.items() if k not in VARYING} for row in rows]


def test_a_run_emits_events_and_writes_the_session(tmp_path):
    events = []
    ended, store = run(tmp_path, epochs=2, events=events)
    assert ended.status == "finished" and ended.epochs_done == 2
    kinds = [type(e) for e in events]
    assert kinds[0] is TrainingStarted and kinds[-1] is TrainingEnded
    assert kinds.count(EpochStarted) == 2 and kinds.count(EpochFinished) == 2
    assert all(e.batches == 12 for e in events if isinstance(e, BatchProgress))
    last_progress = [e for e in events if isinstance(e, BatchProgress)][-1]
    assert last_progress.batch == 12 and last_progress.samples == 600 and last_progress.eta_seconds == 0
    session = store.open("s")
    assert session.status == "finished" and session.record.epochs_done == 2
    rows, _ = session.read_metrics()
    assert [row["epoch"] for row in rows] == [0, 1]
    assert set(rows[0]) == set(METRIC_FIELDS) | {"peak_memory_bytes", "confusion", "batch_losses", "threads"}
    assert all(row["threads"] >= 1 for row in rows)  # what the epoch's seconds were measured with
    for row in rows:  # each batch's loss, in order: their sum is the epoch's total
        assert len(row["batch_losses"]) == row["batches"]
        assert sum(row["batch_losses"]) == pytest.approx(row["total_loss"], rel=1e-5)
    progress = [e for e in events if isinstance(e, BatchProgress) and e.epoch == 1]
    carried = [loss for e in progress for loss in e.batch_losses]  # every batch, once, in order
    assert carried == pytest.approx(rows[1]["batch_losses"], rel=1e-5)
    assert [e.first_batch for e in progress] == [0] + [e.batch for e in progress[:-1]]
    assert rows[0]["peak_memory_bytes"] > 10_000_000  # the process holds torch and the data at least
    assert rows[0]["samples"] == 600 and rows[0]["test_samples"] == 200
    assert rows[0]["train_accuracy"] == rows[0]["total_correct"] / 600
    checkpoint = session.load_checkpoint()
    assert checkpoint.epoch == 2 and checkpoint.architecture == session.record.architecture


def test_synthetic_is_learnable(tmp_path):
    ended, store = run(tmp_path, epochs=3, train_size=2000)
    rows, _ = store.open("s").read_metrics()
    assert rows[-1]["test_accuracy"] > 0.5  # chance is 0.1


def test_same_seed_same_numbers(tmp_path):
    run(tmp_path, "a", epochs=2)
    run(tmp_path, "b", epochs=2)
    run(tmp_path, "c", epochs=2, seed=1)
    store = SessionStore(tmp_path / "sessions")
    assert numbers(store, "a") == numbers(store, "b")
    assert numbers(store, "a") != numbers(store, "c")


@pytest.mark.parametrize("shuffle", [True, False])
def test_resume_equals_a_straight_run(tmp_path, shuffle):
    arch = Architecture.from_dict({"layers": preset("seed").to_dict()["layers"][:7] + [
        {"type": "dropout", "p": 0.3},  # uses the global RNG: its state must be checkpointed
        {"type": "linear", "out_features": 10}]})
    run(tmp_path, "straight", arch, epochs=4, shuffle=shuffle)
    run(tmp_path, "split", arch, epochs=2, shuffle=shuffle)
    ended, store = run(tmp_path, "split", resume=True, epochs=4, shuffle=shuffle)
    assert ended.status == "finished" and ended.epochs_done == 4
    assert numbers(store, "split") == numbers(store, "straight")
    assert store.open("split").record.config["epochs"] == 4


def test_exact_mode_is_the_reference_loop_bit_for_bit(tmp_path, idx_data):
    """The reference: a hand-written tutorial `Network`, torchvision's dataset with
    ToTensor(), DataLoader(batch_size=100), Adam lr 0.01 (the benchmark's own loop)."""
    from cnn_tui.benchmarks.train_speed import reference_loop

    root, _ = idx_data
    expected = [(correct, loss) for correct, loss, _ in reference_loop(str(root), epochs=2, seed=0)]

    config = dict(dataset="fashion-mnist", data_dir=str(root), epochs=2, batch_size=100, shuffle=False,
                  train_size=None, test_size=None)
    run(tmp_path, "exact", exact=True, **config)
    run(tmp_path, "fast", **config)
    store = SessionStore(tmp_path / "sessions")
    exact_rows, _ = store.open("exact").read_metrics()
    assert [(r["total_correct"], r["total_loss"]) for r in exact_rows] == expected
    fast_rows, _ = store.open("fast").read_metrics()
    for fast, (correct, loss) in zip(fast_rows, expected):
        assert abs(fast["total_correct"] - correct) <= max(1, 0.005 * correct)
        assert fast["total_loss"] == pytest.approx(loss, rel=0.01)


def test_stop_from_another_thread_keeps_finished_epochs(tmp_path):
    control = TrainingControl()
    events = []

    def sink(event):
        events.append(event)
        if isinstance(event, EpochFinished):
            threading.Thread(target=control.stop).start()
        if isinstance(event, BatchProgress) and event.epoch == 1:
            control.stop()

    store = SessionStore(tmp_path / "sessions")
    ended = train(preset("seed"), TrainConfig(**SMALL, epochs=5), store, "stopped", on_event=sink, control=control)
    assert ended.status == "stopped" and ended.epochs_done == 1
    session = store.open("stopped")
    assert session.status == "stopped" and "resume continues from epoch 1" in session.record.reason
    assert len(session.read_metrics()[0]) == 1 and session.load_checkpoint().epoch == 1
    # and it resumes
    ended = train(None, TrainConfig(**SMALL, epochs=2), store, "stopped", resume=True)
    assert ended.status == "finished" and len(store.open("stopped").read_metrics()[0]) == 2


def test_pause_holds_every_batch_until_resume(tmp_path):
    """No batch runs between a pause and its resume (only the batch in flight may finish)."""
    control = TrainingControl()
    seen: list[tuple[float, int, str]] = []  # (when, batches done in the run, state)
    resumed_at: list[float] = []

    def resume() -> None:
        resumed_at.append(time.perf_counter())
        control.resume()

    def sink(event):
        if isinstance(event, BatchProgress):
            seen.append((time.perf_counter(), event.epoch * event.batches + event.batch, event.state))
            if len(seen) == 1:
                control.pause()
                threading.Timer(0.5, resume).start()

    store = SessionStore(tmp_path / "sessions")
    ended = train(preset("seed"), TrainConfig(**SMALL, epochs=2), store, "p", on_event=sink, control=control)
    assert ended.status == "finished" and resumed_at
    first = seen[0][1]
    while_paused = [done for when, done, _ in seen if when < resumed_at[0]]
    assert max(while_paused) <= first + 1, f"batches ran while paused: {while_paused}"
    assert any(state == "paused" for _, _, state in seen)  # the trainer acknowledged it
    assert seen[-1][1] > first + 1  # and it went on after the resume


def test_a_checkpoint_alone_rebuilds_the_model_and_its_predictions(tmp_path):
    """From checkpoint.pt only (no session.json): the architecture and weights give a model
    whose predictions on the test set score exactly the last epoch's test_correct."""
    import torch

    from cnn_tui.core.build import build_model
    from cnn_tui.core.data import load_data
    from cnn_tui.core.trainer import evaluate

    config = TrainConfig(**SMALL, epochs=2)
    ended, store = run(tmp_path, "c", epochs=2)
    assert ended.status == "finished"
    session = store.open("c")
    last = session.read_metrics()[0][-1]
    state = torch.load(session.checkpoint_file, weights_only=True)
    model = build_model(Architecture.from_dict(state["architecture"]), config.input)
    model.load_state_dict(state["model"])
    _, test = load_data(config)
    loss, correct, _ = evaluate(model, test, channels_last=False, classes=config.classes)
    assert correct == last["test_correct"]
    assert loss / len(test) == pytest.approx(last["test_loss"], rel=1e-4)


def test_stop_while_paused_does_not_hang(tmp_path):
    control = TrainingControl()

    def sink(event):
        if isinstance(event, BatchProgress):
            control.pause()
            threading.Timer(0.2, control.stop).start()

    store = SessionStore(tmp_path / "sessions")
    started = time.perf_counter()
    ended = train(preset("seed"), TrainConfig(**SMALL, epochs=3), store, "ps", on_event=sink, control=control)
    assert ended.status == "stopped" and ended.epochs_done < 3
    assert time.perf_counter() - started < 30


def test_nan_loss_fails_with_advice(tmp_path):
    ended, store = run(tmp_path, "nan", epochs=2, optimizer="sgd", lr=1e12)
    assert ended.status == "failed"
    assert "loss became nan" in ended.reason and "try lr 1e+11" in ended.reason  # recorded in neutral words
    assert ended.reason_for("cli").endswith("; try --lr 1e+11") and ended.reason_for("app").startswith("lr: ")
    assert store.open("nan").record.reason == ended.reason


def test_wrong_class_count_is_refused_before_anything_is_written(tmp_path):
    data = preset("seed").to_dict()
    data["layers"][-1]["out_features"] = 12
    with pytest.raises(TrainingRefused, match=r"layer 11 \(linear\): outputs 12 features but synthetic has 10 classes; set out_features to 10"):
        run(tmp_path, "x", Architecture.from_dict(data), epochs=1)
    assert not (tmp_path / "sessions" / "x").exists()


def test_spatial_output_is_refused_with_the_fix(tmp_path):
    arch = Architecture.from_dict({"layers": [{"type": "conv2d", "out_channels": 10, "kernel_size": 3}]})
    with pytest.raises(TrainingRefused, match="ends with a 10×26×26 output.*add flatten and a linear layer with out_features 10"):
        run(tmp_path, "x", arch, epochs=1)


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", "", "with space"])
def test_bad_session_names_are_refused(tmp_path, name):
    with pytest.raises(TrainingRefused, match="invalid session name"):
        run(tmp_path, name, epochs=1)
    assert not (tmp_path / "escape").exists()


def test_existing_session_needs_resume(tmp_path):
    run(tmp_path, "once", epochs=1)
    with pytest.raises(TrainingRefused, match="already exists.*add resume"):
        run(tmp_path, "once", epochs=1)
    with pytest.raises(TrainingRefused, match="already has 1 epochs; ask for more; try epochs 6") as refused:
        run(tmp_path, "once", resume=True, epochs=1)
    assert worded(refused.value, "cli").endswith("ask for more; try --epochs 6")
    assert worded(refused.value, "app") == "epochs: session 'once' already has 1 epochs; ask for more; try 6"
    with pytest.raises(TrainingRefused, match="no session 'nope'"):
        run(tmp_path, "nope", resume=True, epochs=1)


def test_missing_data_is_refused_before_a_session_exists(tmp_path):
    with pytest.raises(TrainingRefused, match="dataset synthetic") as refused:
        run(tmp_path, "nodata", dataset="fashion-mnist", data_dir=str(tmp_path / "none"), epochs=1)
    assert str(tmp_path / "none" / "FashionMNIST") in str(refused.value)
    assert "--dataset synthetic" in worded(refused.value, "cli") and "data synthetic" in worded(refused.value, "app")
    assert not (tmp_path / "sessions").exists()  # a typo leaves no failed session behind


def test_damaged_data_is_recorded_as_a_user_error(tmp_path):
    from ..conftest import write_idx_dataset

    write_idx_dataset(tmp_path / "data")
    images = tmp_path / "data" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])  # truncated: present, but unreadable
    ended, store = run(tmp_path, "bad", dataset="fashion-mnist", data_dir=str(tmp_path / "data"), epochs=1)
    assert ended.status == "failed" and ended.user_error and "cannot be read" in ended.reason
    assert store.open("bad").record.status == "failed"


def test_bad_config_is_refused(tmp_path):
    with pytest.raises(TrainingRefused, match="lr must be a positive number") as refused:
        run(tmp_path, "x", lr=0.0)
    assert worded(refused.value, "cli") == "--lr must be a positive number, got 0.0; try --lr 0.01"
    assert worded(refused.value, "app") == "lr: must be a positive number, got 0.0; try 0.01"
    with pytest.raises(TrainingRefused, match="batch size must be at least 1") as refused:
        run(tmp_path, "x", batch_size=0)
    assert worded(refused.value, "cli") == "--batch-size must be at least 1, got 0; try --batch-size 100"
    assert worded(refused.value, "app") == "batch: must be at least 1, got 0; try 100"


def test_out_of_memory_fails_with_advice(tmp_path, monkeypatch):
    """What a CUDA OOM looks like to the loop (simulated: no GPU needed)."""
    import torch

    import cnn_tui.core.trainer as trainer

    real_build = trainer.build_model

    def build_then_explode(arch, shape):
        model = real_build(arch, shape)

        def forward(x):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

        model.forward = forward
        return model

    monkeypatch.setattr(trainer, "build_model", build_then_explode)
    ended, store = run(tmp_path, "oom", epochs=1)
    assert ended.status == "failed"
    assert "ran out of memory at batch size 50; try batch size 25" in ended.reason
    assert ended.reason_for("cli").endswith("; try --batch-size 25")
    assert store.open("oom").record.status == "failed"


def test_an_unexpected_error_is_recorded_not_lost(tmp_path, monkeypatch):
    import cnn_tui.core.trainer as trainer

    def broken(*args, **kwargs):
        raise ZeroDivisionError("something inside")

    monkeypatch.setattr(trainer, "evaluate", broken)
    ended, store = run(tmp_path, "bug", epochs=1)
    assert ended.status == "failed" and ended.reason == "ZeroDivisionError: something inside"
    assert store.open("bug").record.reason == ended.reason


def test_one_device_rule_for_the_trainer_the_app_and_background_runs(monkeypatch):
    import torch

    from cnn_tui.core import device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device.pick_device("auto").type in ("cpu", "mps")
    assert device.gpu_memory_for("cpu") is None and device.gpu_memory(torch.device("cpu")) is None
    with pytest.raises(TrainingRefused) as refused:
        device.pick_device("cuda")
    assert worded(refused.value, "cli").startswith("--device cuda: no CUDA GPU is visible")
    assert worded(refused.value, "app").startswith("device: cuda: no CUDA GPU")
    assert device.device_name(torch.device("cpu")).endswith(f"({count(torch.get_num_threads(), 'thread')})")


def test_each_epoch_records_the_threads_it_trained_with(tmp_path):
    run(tmp_path, epochs=1, threads=1)
    rows, _ = SessionStore(tmp_path / "sessions").open("s").read_metrics()
    assert rows[0]["threads"] == 1
