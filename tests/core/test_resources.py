"""The memory estimate before training, and out-of-memory recognised on every device."""

from __future__ import annotations

import pytest

from cnn_tui.core.config import TrainConfig
from cnn_tui.core.presets import preset
from cnn_tui.core.resources import (
    available_cpu_memory,
    check_training_memory,
    estimate_training_memory,
    memory_problem,
)
from cnn_tui.core.sessions import SessionStore
from cnn_tui.core.shapes import infer_shapes
from cnn_tui.core.spec import Architecture
from cnn_tui.core.prepare import TrainingRefused, prepare

GIANT_LINEAR = Architecture.from_dict({"input": [1, 28, 28], "layers": [
    {"type": "flatten"}, {"type": "linear", "out_features": 10**9}, {"type": "linear", "out_features": 10}]})
WIDE_CONV = Architecture.from_dict({"input": [1, 28, 28], "layers": [
    {"type": "conv2d", "out_channels": 100_000, "kernel_size": 3}, {"type": "relu"},
    {"type": "adaptiveavgpool2d", "output_size": 1}, {"type": "linear", "out_features": 10}]})


def estimate(arch, **config):
    summary = infer_shapes(arch)
    return estimate_training_memory([i.output_shape for i in summary.layers], summary.total_params, TrainConfig(**config))


def test_the_seed_network_estimate_part_by_part():
    e = estimate(preset("seed"), dataset="synthetic", train_size=600, test_size=200, batch_size=50)
    assert e.params == 32998 * 4 * 4  # weights, gradients, Adam's two moments
    outputs = 2 * 3456 + 864 + 2 * 768 + 2 * 192 + 2 * 120 + 2 * 60 + 10  # the 12 layer outputs
    assert e.per_sample == (2 * outputs + 784) * 4 and e.activations == 50 * e.per_sample
    assert e.data == 800 * (784 + 8) + 600 * 784 * 4 * 3  # uint8 + labels, synthetic temporaries
    sgd = estimate(preset("seed"), optimizer="sgd")
    assert sgd.params == 32998 * 4 * 3 and sgd.data == 70_000 * (784 + 8)


def test_a_batch_larger_than_the_data_counts_only_the_data():
    assert estimate(preset("seed"), dataset="synthetic", train_size=30, batch_size=1000).batch == 30


def test_refusal_names_estimate_available_and_a_fix():
    config = TrainConfig(dataset="synthetic", batch_size=100)
    e = estimate(WIDE_CONV, dataset="synthetic", batch_size=100)
    assert e.activations > 100 * 2 * 100_000 * 26 * 26 * 4  # conv and relu outputs, and their gradients: 108 GB
    message = memory_problem(e, 8 * 10**9, "this machine", config)
    assert str(message).startswith("training needs about ")
    assert "but this machine has 8.0 GB available" in str(message)
    assert "try --batch-size 5, or pass --force" in message.for_audience("cli")
    assert "try batch 5, or pass --force" in message.for_audience("app")
    assert memory_problem(e, e.total, "this machine", config) is None  # exactly fits
    assert memory_problem(e, None, "this machine", config) is None  # unknown: do not guess


def test_parameters_that_cannot_fit_suggest_fewer_features():
    config = TrainConfig()
    summary = infer_shapes(GIANT_LINEAR)
    message = check_training_memory([i.output_shape for i in summary.layers], summary.total_params, config,
                                    cuda_total=80 * 10**9)
    assert "but the GPU has 80.0 GB available; use fewer channels or features" in str(message)


def test_available_cpu_memory_reads_memavailable(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24576000 kB\nMemFree:  100 kB\nMemAvailable:   20000000 kB\n")
    assert available_cpu_memory(str(meminfo)) == 20_000_000 * 1024
    assert available_cpu_memory(str(tmp_path / "none")) is None


def test_prepare_refuses_a_giant_network_unless_forced(tmp_path):
    store = SessionStore(tmp_path / "sessions")
    config = TrainConfig(dataset="synthetic")
    with pytest.raises(TrainingRefused, match=r"training needs about .* available; use fewer channels or features"):
        prepare(GIANT_LINEAR, config, store, "giant")
    arch, _ = prepare(GIANT_LINEAR, config, store, "giant", force=True)
    assert arch == GIANT_LINEAR
    assert not (tmp_path / "sessions").exists()


@pytest.mark.parametrize("error", [
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
                 "you tried to allocate 27000000000 bytes. Error code 12 (Cannot allocate memory)"),
    MemoryError(),
])
def test_cpu_out_of_memory_gets_the_batch_size_hint(tmp_path, monkeypatch, error):
    import cnn_tui.core.trainer as trainer
    from cnn_tui.core.trainer import train

    real_build = trainer.build_model

    def build_then_explode(arch, shape):
        model = real_build(arch, shape)

        def forward(x):
            raise error

        model.forward = forward
        return model

    monkeypatch.setattr(trainer, "build_model", build_then_explode)
    store = SessionStore(tmp_path / "sessions")
    ended = train(preset("seed"), TrainConfig(dataset="synthetic", train_size=200, test_size=50, batch_size=40,
                                              epochs=1, device="cpu"), store, "oom")
    assert ended.status == "failed"
    assert ended.reason == "cpu ran out of memory at batch size 40; try batch size 20"  # as recorded
    assert ended.reason_for("cli").endswith("; try --batch-size 20")
    assert ended.reason_for("app") == "batch: cpu ran out of memory at batch size 40; try 20"
