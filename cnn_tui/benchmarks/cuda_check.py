"""The CUDA check for the system panel and background runs (needs a GPU; a few minutes).

    CNN_TUI_DATA=... python -m cnn_tui.benchmarks.cuda_check [--epochs 5]

Trains the reference configuration on CUDA (the real FashionMNIST when CNN_TUI_DATA is
set, else 60,000 synthetic images) and checks what the system panel shows against torch:
the peak GPU memory each epoch's metrics line records must equal
`torch.cuda.max_memory_allocated()` for that epoch, and the panel's allocated/reserved/total
figures must be the ones torch reports. Prints seconds per epoch. Exits 1 on a mismatch,
2 where no GPU is visible.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile


def main() -> int:
    import torch

    from cnn_tui.core.config import TrainConfig
    from cnn_tui.core.events import BatchProgress, EpochFinished
    from cnn_tui.core.presets import preset
    from cnn_tui.core.sessions import SessionStore
    from cnn_tui.core.trainer import train

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU visible: nothing checked")
        return 2
    data = os.environ.get("CNN_TUI_DATA")
    config = (TrainConfig(epochs=args.epochs, device="cuda", shuffle=False) if data else
              TrainConfig(dataset="synthetic", train_size=60000, test_size=10000, epochs=args.epochs, device="cuda"))
    samples: list[dict] = []
    peaks: list[tuple[int, int, float]] = []

    def on_event(event) -> None:
        if isinstance(event, BatchProgress) and event.system:
            samples.append(event.system["cuda"])
        elif isinstance(event, EpochFinished):  # emitted before the next epoch resets the peak
            peaks.append((event.metrics["peak_memory_bytes"], torch.cuda.max_memory_allocated(),
                          event.metrics["seconds"]))

    ended = train(preset("seed"), config, SessionStore(tempfile.mkdtemp()), "cuda", on_event=on_event)
    print(f"{torch.cuda.get_device_name(0)}; {ended.status}, {ended.epochs_done} epochs")
    ok = ended.status == "finished"
    for epoch, (recorded, torch_peak, seconds) in enumerate(peaks):
        print(f"epoch {epoch}: {seconds:.2f} s; peak recorded {recorded:,} B, "
              f"torch.cuda.max_memory_allocated {torch_peak:,} B")
        ok &= recorded == torch_peak
    total = torch.cuda.get_device_properties(0).total_memory
    ok &= all(s["total"] == total and 0 < s["allocated"] <= s["reserved"] <= total for s in samples)
    print(f"panel samples: {len(samples)}; allocated ≤ reserved ≤ total {total:,} B in each: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
