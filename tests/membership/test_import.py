"""`twotier membership import`: every row checked first, then all rows or none."""

from __future__ import annotations

import asyncio
import csv
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import make_operator, make_org
from tests.test_cli import fresh_url, run  # noqa: F401 — fresh_url is a fixture
from twotier.audit.models import AuditRecord
from twotier.kit.db import Database
from twotier.membership import importer
from twotier.membership.importer import ImportRefused, import_memberships, parse
from twotier.membership.models import MembershipAccount, MembershipOrganization
from twotier.membership.schemas import MembershipCreate, OrganizationIn
from twotier.membership.service import create_membership

HEADER = "username,password,legal_name,country,partner_id\n"
GOOD = (
    HEADER
    + "alice@example.test,tulip-harbor-91,Alice Trading,TW,\n"
    + "alice@example.test,tulip-harbor-91,Alice Cloud,tw,7654321\n"
    + "Bob,copper-violin-55,Bob Systems,US,\n"
)


def refusal(data: str | bytes) -> list[str]:
    with pytest.raises(ImportRefused) as caught:
        parse(data)
    return [str(e) for e in caught.value.errors]


async def registry(db: Database) -> dict[str, list[tuple[str, str, str]]]:
    """username → [(partner ID, legal name, country)] for everything in the registry."""
    async with db.read_sessions() as s:
        rows = await s.execute(
            select(
                MembershipAccount.username,
                MembershipOrganization.partner_id,
                MembershipOrganization.legal_name,
                MembershipOrganization.country,
            )
            .join(MembershipOrganization, MembershipOrganization.account_id == MembershipAccount.id)
            .order_by(MembershipAccount.username, MembershipOrganization.legal_name)
        )
    out: dict[str, list[tuple[str, str, str]]] = {}
    for username, partner_id, name, country in rows:
        out.setdefault(username, []).append((partner_id, name, country))
    return out


async def add_existing(db: Database, username: str, partner_id: str) -> None:
    async with db.write_sessions() as s, s.begin():
        await create_membership(
            s,
            MembershipCreate(
                username=username,
                password="existing-pass",
                organizations=[
                    OrganizationIn(legal_name="Existing Ltd", country="TW", partner_id=partner_id)
                ],
            ),
            password_hash="$argon2id$placeholder",
        )


# Reading the file: pure, no database.


def test_rows_of_one_username_make_one_account_with_several_organizations() -> None:
    plan = parse(GOOD)
    assert [(a.username, a.line) for a in plan.accounts] == [
        ("alice@example.test", 2),
        ("bob", 4),
    ]
    alice = plan.accounts[0]
    assert [(o.line, o.legal_name, o.country, o.partner_id) for o in alice.organizations] == [
        (2, "Alice Trading", "TW", None),
        (3, "Alice Cloud", "TW", "7654321"),
    ]
    assert plan.organization_count == 3


def test_the_partner_id_column_may_be_left_out_and_blank_lines_are_skipped() -> None:
    plan = parse(
        "\ufeffUsername,Password,Legal_Name,Country\r\n\r\nann,maple-orbit-27,Ann,TW\r\n,,,\r\n"
    )
    assert [a.username for a in plan.accounts] == ["ann"]
    assert plan.accounts[0].organizations[0].partner_id is None


def test_every_bad_row_is_reported_by_its_physical_line() -> None:
    data = (
        HEADER
        + "ann,maple-orbit-27,Ann Ltd,TW,\n"  # 2: fine
        + "bo,short,Bo Ltd,XX,123\n"  # 3: username, password, country, partner ID
        + 'cyd,fjord-lantern-3,"Cy\nLtd",TW,\n'  # 4-5: a quoted line break, fine
        + "ann,violet-canyon-64,Ann Two,TW,\n"  # 6: another password for ann
        + "dee,quartz-meadow-8,Dee,TW\n"  # 7: a field short
        + ",quartz-meadow-8,,TW,\n"  # 8: no username, no legal name
    )
    errors = refusal(data)
    assert [e.split(":")[0] for e in errors] == ["line 3", "line 6", "line 7", "line 8"]
    line3 = errors[0]
    for column in ("username", "password", "country", "partner_id"):
        assert f"{column}: " in line3
    assert "'XX' is not an ISO 3166-1 alpha-2 country code" in line3
    assert "short" not in line3  # a password is never echoed
    assert "password differs from line 2" in errors[1]
    assert errors[2] == "line 7: has 4 fields; the header has 5"
    assert "username: " in errors[3]
    assert "legal_name: " in errors[3]


def test_weak_passwords_are_refused_by_line_with_zxcvbns_reason() -> None:
    errors = refusal(
        HEADER
        + "ann,maple-orbit-27,Ann,TW,\n"  # 2: fine
        + "bob,password123,Bob Ltd,TW,\n"  # 3: a common password
        + "carol,Carol-Ltd-2026,Carol Ltd,TW,\n"  # 4: the username and legal name
        + "bob,password123,Bob Two,TW,\n"  # 5: bob's account again: told on line 3
        + "dan,short,Dan,TW,\n"  # 6: too short, said once
    )
    assert errors == [
        "line 3: password: This is a very common password. Add another word or two. "
        "Uncommon words are better.",
        "line 4: password: It is made of your email, your name, your organization's name or "
        "domain, or this service's name. Add words of your own.",
        "line 6: password: String should have at least 8 characters",
    ]


async def test_the_registry_api_refuses_a_weak_password(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    operator = await make_operator(client, session)
    body = {
        "username": "weakling",
        "password": "Weakling-2026",
        "organizations": [{"legal_name": "Weakling Ltd", "country": "TW"}],
    }
    refused = await client.post("/api/v1/operator/memberships", json=body, headers=operator)
    assert refused.status_code == 422
    assert refused.json()["code"] == "password_too_weak"
    body["password"] = "amber kettle drifts north"
    made = await client.post("/api/v1/operator/memberships", json=body, headers=operator)
    assert made.status_code == 201


def test_a_partner_id_twice_in_the_file_is_refused_on_the_later_lines() -> None:
    errors = refusal(
        HEADER
        + "ann,maple-orbit-27,Ann,TW,1111111\n"
        + "bob,copper-violin-5,Bob,TW,2222222\n"
        + "cyd,fjord-lantern-3,Cy,TW,1111111\n"
        + "ann,maple-orbit-27,Ann Two,TW,1111111\n"
    )
    assert errors == [
        "line 4: partner ID 1111111 is also on line 2",
        "line 5: partner ID 1111111 is also on line 2",
    ]


def test_an_account_holds_at_most_fifty_organizations() -> None:
    rows = "".join(f"ann,maple-orbit-27,Ann {i},TW,\n" for i in range(51))
    assert refusal(HEADER + rows) == [
        "line 52: ann would hold more than 50 organizations (its first row is line 2)"
    ]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("", "line 1: the file is empty"),
        (HEADER, "line 1: the file has a header but no rows"),
        ("username,password,legal_name\n", "line 1: missing column(s) country"),
        ("username,password,name,country\n", "line 1: unknown column(s) 'name'"),
    ],
)
def test_a_file_without_a_usable_header_or_rows_is_refused(data: str, expected: str) -> None:
    assert refusal(data)[0].startswith(expected)


def test_a_file_that_is_not_utf8_is_refused_with_its_line() -> None:
    rows = "ann,maple-orbit-27,Ann,TW,\nbob,copper-violin-5,B\xf6b,TW,\n"
    data = (HEADER + rows).encode("latin-1")
    assert refusal(data) == ["line 3: is not UTF-8 text"]


# Against the database.


async def test_a_good_file_imports_everything_in_one_go(db: Database) -> None:
    summary = await import_memberships(db, GOOD, source="members.csv", jobs=2)
    assert summary.accounts == 2
    assert len(summary.organizations) == 3
    assert summary.generated_partner_ids == 2
    imported = await registry(db)
    assert sorted(imported) == ["alice@example.test", "bob"]
    alice = {name: (pid, country) for pid, name, country in imported["alice@example.test"]}
    assert alice["Alice Cloud"] == ("7654321", "TW")
    generated = [alice["Alice Trading"][0], imported["bob"][0][0]]
    assert all(re.fullmatch(r"[1-9]\d{6}", pid) for pid in generated)
    assert len(set(generated) | {"7654321"}) == 3
    assert imported["bob"][0][2] == "US"
    async with db.read_sessions() as s:
        audits = list(
            await s.scalars(
                select(AuditRecord).where(AuditRecord.operation == "memberships_imported")
            )
        )
        created = await s.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(AuditRecord.operation == "membership_created")
        )
    assert len(audits) == 1
    assert audits[0].detail == {
        "source": "members.csv",
        "accounts": 2,
        "organizations": 3,
        "generated_partner_ids": 2,
    }
    assert created == 0  # one record for the import, not one per account


async def test_each_account_is_hashed_once_with_a_salt_of_its_own(db: Database) -> None:
    rows = "ann,saffron-tide-77,Ann,TW,\nann,saffron-tide-77,Ann 2,TW,\nbob,saffron-tide-77,B,TW,\n"
    await import_memberships(db, HEADER + rows)
    async with db.read_sessions() as s:
        stored = await s.execute(
            select(MembershipAccount.username, MembershipAccount.password_hash)
        )
        hashes = {username: digest for username, digest in stored}
    assert set(hashes) == {"ann", "bob"}
    assert hashes["ann"].startswith("$argon2id$")
    assert hashes["ann"] != hashes["bob"]


async def test_the_imported_password_signs_in_to_the_membership_lookup(
    client: httpx.AsyncClient, db: Database
) -> None:
    org = await make_org(client, country="TW")
    await import_memberships(db, GOOD)
    lookup = await client.post(
        "/api/v1/enrollment/membership-lookup",
        json={"username": "Alice@Example.test", "password": "tulip-harbor-91"},
        headers=org.auth,
    )
    assert lookup.status_code == 200, lookup.text
    organizations = lookup.json()["organizations"]
    assert sorted(o["legal_name"] for o in organizations) == ["Alice Cloud", "Alice Trading"]
    assert all(o["eligible"] for o in organizations)
    wrong = await client.post(
        "/api/v1/enrollment/membership-lookup",
        json={"username": "alice@example.test", "password": "copper-violin-55"},
        headers=org.auth,
    )
    assert wrong.status_code == 401


async def test_a_file_with_bad_rows_imports_none_of_its_good_rows(db: Database) -> None:
    data = GOOD + "carol,cobalt-fern-12,Carol Ltd,Atlantis,\n"
    with pytest.raises(ImportRefused) as caught:
        await import_memberships(db, data)
    assert [str(e) for e in caught.value.errors] == [
        "line 5: country: 'Atlantis' is not an ISO 3166-1 alpha-2 country code"
    ]
    assert await registry(db) == {}


async def test_existing_usernames_and_partner_ids_are_refused_by_line(db: Database) -> None:
    await add_existing(db, "bob", "7654321")
    with pytest.raises(ImportRefused) as caught:
        await import_memberships(db, GOOD)
    assert [str(e) for e in caught.value.errors] == [
        "line 3: partner ID 7654321 already exists",
        "line 4: username bob is taken",
    ]
    assert sorted(await registry(db)) == ["bob"]  # only what was there


async def test_what_appears_while_passwords_hash_is_caught_before_writing(db: Database) -> None:
    plan = parse(GOOD)
    hashes = {a.username: "$argon2id$placeholder" for a in plan.accounts}
    await add_existing(db, "alice@example.test", "1234567")  # lands after the first check
    async with db.write_sessions() as s, s.begin():
        with pytest.raises(ImportRefused) as caught:
            await importer.write(s, plan, hashes)
    assert [e.line for e in caught.value.errors] == [2, 3]


async def test_progress_is_reported_per_account_and_per_row(db: Database) -> None:
    seen: dict[str, list[int]] = {}

    class Recorder:
        current = ""

        def stage(self, description: str, total: int) -> None:
            self.current = description
            seen[description] = [total, 0]

        def advance(self, amount: int = 1) -> None:
            seen[self.current][1] += amount

    await import_memberships(db, GOOD, progress=Recorder())
    assert seen == {"Checking passwords": [2, 2], "Hashing passwords": [2, 2], "Writing": [5, 5]}


# The real command.


def _count_accounts(url: str) -> int:
    async def count() -> int:
        database = Database(url)
        try:
            async with database.read_sessions() as s:
                return int(await s.scalar(select(func.count()).select_from(MembershipAccount)) or 0)
        finally:
            await database.dispose()

    return asyncio.run(count())


def test_the_command_imports_a_file_and_writes_the_partner_ids(
    fresh_url: str,  # noqa: F811 — the fixture imported from tests.test_cli
    tmp_path: Path,
) -> None:
    source = tmp_path / "members.csv"
    source.write_text(GOOD, encoding="utf-8")
    ids = tmp_path / "ids.csv"
    done = run(fresh_url, "membership", "import", str(source), "--partner-ids-out", str(ids))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no progress bars when not on a terminal
    assert "Imported 2 membership account(s) holding 3 organization(s)" in done.stdout
    assert "2 partner ID(s) generated" in done.stdout
    with ids.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["line"], r["username"], r["generated"]) for r in rows] == [
        ("2", "alice@example.test", "True"),
        ("3", "alice@example.test", "False"),
        ("4", "bob", "True"),
    ]
    written = ids.read_text(encoding="utf-8")
    assert "tulip-harbor-91" not in written
    assert "copper-violin-55" not in written
    assert _count_accounts(fresh_url) == 2
    again = run(fresh_url, "membership", "import", str(source))
    assert again.returncode == 1
    assert "line 2: username alice@example.test is taken" in again.stderr
    assert "nothing was imported" in again.stderr
    assert _count_accounts(fresh_url) == 2


def test_the_command_refuses_a_bad_file_with_exit_code_1(
    fresh_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    source = tmp_path / "members.csv"
    source.write_text(GOOD + "dan,short,Dan,TW,\n", encoding="utf-8")
    refused = run(fresh_url, "membership", "import", str(source))
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr.splitlines() == [
        "line 5: password: String should have at least 8 characters",
        "1 bad row(s) in members.csv; nothing was imported.",
    ]
    assert _count_accounts(fresh_url) == 0
    missing = run(fresh_url, "membership", "import", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2
