"""Refuse imports inside functions in src/ (they hide a dependency, usually a cycle).

Allowed: imports under ``if TYPE_CHECKING:`` (module level anyway) and the CLI's commands,
which import what they need when run so that ``twotier --help`` starts fast.
Usage: python scripts/no_local_imports.py [ROOT]  (exit 1 and one line per import found)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ALLOWED = {Path("src/twotier/cli.py")}


def local_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    found[inner.lineno] = ast.unparse(inner)
    return sorted(found.items())


def main(root: str = "src") -> int:
    bad = 0
    for path in sorted(Path(root).rglob("*.py")):
        if path in ALLOWED:
            continue
        for line, text in local_imports(path):
            print(f"{path}:{line}: import inside a function: {text}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
