"""The sample gallery: the checkpoint's predictions on the test set, drawn with half blocks."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from cnn_tui.core.gallery import half_block_rows, predict_session
from cnn_tui.core.sessions import SessionStore
from cnn_tui.render import HalfBlockImage

from .test_cli_train import cli


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gallery")
    result = cli("train", "--dataset", "synthetic", "--epochs", "1", "--train-size", "300", "--test-size", "120",
                 "--batch-size", "50", "--session", "run", "--sessions-dir", str(folder))
    assert result.returncode == 0, result.stderr
    return folder


def test_predictions_agree_with_the_trainers_last_test_epoch(trained):
    session = SessionStore(trained).open("run")
    predictions = predict_session(session)
    rows, _ = session.read_metrics()
    assert len(predictions.samples) == rows[-1]["test_samples"] == 120
    assert sum(s.correct for s in predictions.samples) == rows[-1]["test_correct"]
    assert all(0 < s.confidence <= 1 for s in predictions.samples)
    wrong = predictions.chosen(wrong_only=True)
    assert wrong and all(not s.correct for s in wrong)
    threes = predictions.chosen(label=3)
    assert threes and all(s.label == 3 for s in threes)
    assert len(predictions.image(predictions.samples[5])) == 28 * 28
    assert predictions.name(3) == "class 3"


def test_half_blocks_pair_rows_and_repeat_grey():
    pixels = bytes([10, 20, 30, 40, 50, 60])  # 1×3×2: three rows of two
    rows = half_block_rows(pixels, (1, 3, 2))
    assert rows == [[((10,) * 3, (30,) * 3), ((20,) * 3, (40,) * 3)],
                    [((50,) * 3, (0, 0, 0)), ((60,) * 3, (0, 0, 0))]]
    rgb = bytes([1, 2, 3, 4, 5, 6])  # 3×1×2: r plane, g plane, b plane
    assert half_block_rows(rgb, (3, 1, 2)) == [[((1, 3, 5), (0, 0, 0)), ((2, 4, 6), (0, 0, 0))]]
    out = io.StringIO()
    Console(file=out, width=40, force_terminal=True, color_system="truecolor").print(HalfBlockImage(pixels, (1, 3, 2)))
    # the top pixel is the block's colour, the bottom one its background
    assert out.getvalue().splitlines()[0] == "\x1b[38;2;10;10;10;48;2;30;30;30m▀\x1b[0m\x1b[38;2;20;20;20;48;2;40;40;40m▀\x1b[0m"


def test_gallery_command(trained):
    result = cli("gallery", "run", "--sessions-dir", str(trained), "--wrong", "-n", "4")
    assert result.returncode == 0, result.stderr
    assert "misclassified images, the first 4 shown" in result.stdout
    assert result.stdout.count("✗") == 4 and "✓" not in result.stdout
    result = cli("gallery", "run", "--sessions-dir", str(trained), "--label", "class 2", "-n", "2")
    assert result.returncode == 0 and "class 2 images" in result.stdout


def test_kitty_graphics_send_the_images_pixels(trained):
    import base64
    import re

    from PIL import Image

    result = cli("gallery", "run", "--sessions-dir", str(trained), "-n", "2", "--graphics", "kitty")
    assert result.returncode == 0, result.stderr
    commands = re.findall(r"\x1b_G([^;]*);([^\x1b]*)\x1b\\", result.stdout)
    assert len(commands) == 2 and all("f=100" in keys and "c=28" in keys and "r=14" in keys for keys, _ in commands)
    image = Image.open(io.BytesIO(base64.b64decode(commands[0][1])))
    predictions = predict_session(SessionStore(trained).open("run"))
    assert image.size == (28, 28) and image.tobytes() == bytes(predictions.image(predictions.samples[0]))
    assert "▀" not in result.stdout


@pytest.mark.parametrize("args, message", [
    (["run", "--label", "Trouser"], "--label Trouser: not a class of this dataset; use one of class 0"),
    (["nope"], "no session 'nope'"),
])
def test_gallery_mistakes(trained, args, message):
    result = cli("gallery", *args, "--sessions-dir", str(trained))
    assert result.returncode == 2 and message in result.stderr


def test_a_session_without_a_checkpoint(tmp_path):
    from cnn_tui.core.config import TrainConfig
    from cnn_tui.core.presets import preset
    from cnn_tui.core.sessions import new_record

    with SessionStore(tmp_path).create("empty", new_record(preset("seed"), TrainConfig(dataset="synthetic"), "cpu")):
        pass
    result = cli("gallery", "empty", "--sessions-dir", str(tmp_path))
    assert result.returncode == 2 and "no checkpoint yet" in result.stderr


async def test_the_gallery_in_the_app(trained, tmp_path):
    from cnn_tui.ui.app import CnnTuiApp
    from cnn_tui.ui.screens.gallery import GalleryScreen

    from .ui.conftest import small_config, wait_for

    app = CnnTuiApp(config=small_config(), sessions_dir=str(trained), probe_device=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("o")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "SessionsScreen")
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, GalleryScreen) and app.screen.predictions is not None)
        await pilot.pause()
        title = str(app.screen.query_one("#gallery-title").render())
        assert "of 120 test images right · 120 images · page 1/" in title
        await pilot.press("w", "right", "right")
        await pilot.pause()
        title = str(app.screen.query_one("#gallery-title").render())
        assert "misclassified class 1 images" in title
        cards = str(app.screen.query_one("#gallery-cards").render())
        assert "✓" not in cards
        await pilot.press("escape")
        assert not isinstance(app.screen, GalleryScreen)
