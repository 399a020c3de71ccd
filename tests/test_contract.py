"""`make contract` (contract/run.py): what it checks stays what CI relies on."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from twotier.demo import seed

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "contract" / "schemathesis.toml"


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return tomllib.loads(CONFIG.read_text())


@pytest.fixture(scope="module")
def runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("contract_run", ROOT / "contract" / "run.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_server_errors_and_schema_violations_fail_the_run(config: dict[str, Any]) -> None:
    checks = config["checks"]
    assert isinstance(checks, dict)
    for name in (
        "not_a_server_error",
        "response_schema_conformance",
        "status_code_conformance",
        "content_type_conformance",
    ):
        assert checks[name]["enabled"] is True, name
    off = {name for name, check in checks.items() if not check.get("enabled", True)}
    # Each check left off says why, next to it.
    text = CONFIG.read_text()
    for name in off:
        section = text.split(f"[checks.{name}]", 1)[1].split("\n[", 1)[0]
        assert "#" in section, f"{name} is off without a reason"
    assert off == {"positive_data_acceptance", "object_level_authorization"}


def test_every_operation_is_tested_in_bounded_phases(config: dict[str, Any]) -> None:
    phases = config["phases"]
    assert isinstance(phases, dict)
    assert {name for name, phase in phases.items() if phase["enabled"]} == {
        "examples",
        "coverage",
        "stateful",
    }
    generation = config["generation"]
    assert isinstance(generation, dict)
    assert 1 <= generation["max-examples"] <= 20
    for operation in config.get("operations", []):
        assert operation.get("enabled", True), operation  # nothing turned off
        assert not any(key.startswith("exclude-") for key in operation), operation


def test_the_four_principals_are_the_demo_worlds(runner: ModuleType) -> None:
    emails = {p.name: p.email for p in runner.PRINCIPALS}
    assert emails == {
        "operator": seed.OPERATOR_EMAIL,
        "provider-admin-agent": "admin@contoso-distribution.example",
        "reseller-admin-agent": "admin@fabrikam.example",
        "customer-global-admin": "admin@northwind.example",
    }
    demo_admins = {org.admin_email for org in seed.DEMO_ORGS}
    assert set(emails.values()) - {seed.OPERATOR_EMAIL} <= demo_admins
