"""Every state change announces through ``events.announce``: the audit record and the events
are written together, and event types come from one enum that matches the catalog."""

from __future__ import annotations

import ast
from pathlib import Path

from twotier.events.catalog import CATALOG, TEST_EVENT, EventType

SRC = Path(__file__).resolve().parents[1] / "src" / "twotier"
# The writers themselves, and the one event that is not announced: a webhook test message,
# sent to one endpoint on request (audited by the same function through announce).
WRITERS = {SRC / "audit" / "service.py", SRC / "events" / "service.py"}
EXCEPTIONS = {(SRC / "webhooks" / "service.py", "send_test")}


def _direct_writes() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path in WRITERS:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if not isinstance(node, ast.Call):
                    continue
                writes = isinstance(node, ast.Call) and ast.unparse(node.func) in (
                    "audit.record",
                    "events.emit",
                    "record",
                    "emit",
                )
                if writes and (path, fn.name) not in EXCEPTIONS:
                    found.append(f"{path.relative_to(SRC)}:{node.lineno} in {fn.name}")
    return found


def test_no_service_writes_an_audit_record_or_an_event_but_through_announce() -> None:
    assert _direct_writes() == []
    # The scan sees calls: the exception it allows is really there.
    webhooks = (SRC / "webhooks" / "service.py").read_text()
    assert "await events.emit(" in webhooks
    assert "await events.announce(" in (SRC / "channel" / "service.py").read_text()


def test_the_event_types_are_the_catalog_and_the_test_event() -> None:
    documented = [spec.type for spec in CATALOG]
    assert len(documented) == len(set(documented))
    assert {*documented, TEST_EVENT.type} == set(EventType)
    assert all(isinstance(t, EventType) for t in documented)
