"""The per-batch parts benchmark runs end to end and reports every part it names."""

from cnn_tui.benchmarks.step_parts import measure


def test_step_parts_measures_each_part_on_random_images():
    figures = measure(None, rounds=2, calls=3, random_images=1_000)
    parts = ["training step", "batch from uint8, in order", "batch from a float copy, in order",
             "batch from uint8, shuffled", "batch from a float copy, shuffled", "running sums",
             "training step, denormals flushed", "training step, denormals kept"]
    assert all(figures[part] > 0 for part in parts)
    assert figures["batch from uint8, in order"] < figures["training step"]  # a slice and a scale, not a step
    assert figures["float copy, extra memory (MB)"] == 1_000 * 784 * 4 / 1e6
    assert figures["threads"] >= 1
