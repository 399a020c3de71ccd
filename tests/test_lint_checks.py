"""The lint checks that keep the structure: they find what they are for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "no_local_imports.py"


def _run(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True, check=False
    )


def test_an_import_inside_a_function_is_refused_with_its_place(tmp_path: Path) -> None:
    (tmp_path / "clean.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import os\n"
        "def f() -> int:\n    return 1\n"
    )
    assert _run(tmp_path).returncode == 0
    (tmp_path / "dodge.py").write_text(
        "async def g() -> None:\n    from twotier.commerce import licenses\n"
    )
    found = _run(tmp_path)
    assert found.returncode == 1
    assert "dodge.py:2: import inside a function: from twotier.commerce import licenses" in (
        found.stdout
    )
    assert "clean.py" not in found.stdout


def test_src_has_no_import_inside_a_function_but_the_cli_commands() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout
    # The CLI's per-command imports exist (they are the documented exception).
    cli = (ROOT / "src" / "twotier" / "cli.py").read_text()
    assert "    from twotier.kit.db import Database" in cli


def test_the_layer_contracts_hold_and_name_every_domain() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    assert "Contracts: 3 kept, 0 broken." in result.stdout
    config = (ROOT / "pyproject.toml").read_text()
    order = [
        "twotier.portal",
        "twotier.commerce",
        "twotier.customers",
        "twotier.channel",
        "twotier.invitations",
        "twotier.access",
        "twotier.partners",
        "twotier.directory",
    ]
    positions = [config.index(f'  "{name}",') for name in order]
    assert positions == sorted(positions)


def test_an_import_cycle_is_found_and_named(tmp_path: Path) -> None:
    package = tmp_path / "circular"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from circular import b\n")
    (package / "b.py").write_text("from circular import a\n")
    (package / "c.py").write_text("from circular import a\n")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "import_cycles.py"), "circular"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "import cycle: circular.a ↔ circular.b" in result.stdout
    assert "circular.c" not in result.stdout


def test_no_two_modules_import_each_other_in_a_circle() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "import_cycles.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    assert "0 import cycle(s)" in result.stdout
