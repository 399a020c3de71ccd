"""Refuse import cycles between modules of twotier (TYPE_CHECKING imports aside).

The layers contract keeps packages in order; this keeps modules inside a package from
importing each other in a circle too. Prints each cycle and exits 1 if there is one.
Usage: python scripts/import_cycles.py [PACKAGE]
"""

from __future__ import annotations

import sys

import grimp


def cycles(package: str = "twotier") -> list[list[str]]:
    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def main(package: str = "twotier") -> int:
    found = cycles(package)
    for component in found:
        print("import cycle: " + " ↔ ".join(component))
    print(f"{len(found)} import cycle(s) among {package}'s modules")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
