"""The headless core never imports Textual; summary and start-up never import torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import cnn_tui

PACKAGE = Path(cnn_tui.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_source_never_imports_textual():
    offenders = [p.name for p in (PACKAGE / "core").rglob("*.py") if {"textual", "textual_plotext", "plotext"} & _imports(p)]
    assert offenders == []


def _run(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


def test_importing_the_whole_core_loads_no_textual():
    modules = sorted(p.stem for p in (PACKAGE / "core").glob("*.py") if p.stem != "__init__")
    imports = "; ".join(f"import cnn_tui.core.{m}" for m in modules)
    _run(f"import sys; {imports}; bad = [m for m in sys.modules if m.startswith('textual')]; assert not bad, bad")


def test_summary_command_never_imports_torch():
    _run(
        "import sys, io, contextlib\n"
        "from cnn_tui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['summary']) == 0\n"
        "    assert main(['summary', '--json', '--preset', 'vgg-small']) == 0\n"
        "assert 'torch' not in sys.modules, 'summary imported torch'\n"
    )


def test_architecture_engine_never_imports_torch():
    _run(
        "import sys\n"
        "import cnn_tui.core.spec, cnn_tui.core.shapes, cnn_tui.core.presets, cnn_tui.core.datasets, cnn_tui.core.config\n"
        "assert 'torch' not in sys.modules\n"
    )


def test_the_app_draws_its_first_frame_without_torch(tmp_path):
    _run(
        "import sys\n"
        "from cnn_tui.ui.app import CnnTuiApp\n"
        f"app = CnnTuiApp(sessions_dir={str(tmp_path)!r})\n"
        "seen = {}\n"
        "async def first(pilot):\n"
        "    seen['torch'] = 'torch' in sys.modules\n"
        "    app.exit()\n"
        "app.run(headless=True, size=(80, 24), auto_pilot=first)\n"
        "assert seen == {'torch': False}, seen\n"
    )
