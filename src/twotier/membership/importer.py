"""Bulk import of membership accounts from CSV: all rows or none.

The file has a header row ``username,password,legal_name,country,partner_id``
(``partner_id`` may be empty or the column left out: a unique 7-digit ID is generated).
Several rows with one username make one account holding several organization profiles;
they must carry the same password.

The whole file is checked first (every row with the registry's own schemas and each
account's password with zxcvbn, then the usernames and partner IDs against the database in
a few ``IN`` queries); one bad row refuses the file, and every bad row is reported by its
line number. Then each account's
password is hashed once, in threads (argon2 releases the GIL), *before* the write
transaction opens, and everything is written in one transaction with bulk inserts and one
audit record.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import secrets
import uuid
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO, TypeVar

from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.events import service as events
from twotier.kit.clock import utcnow
from twotier.kit.db import Database
from twotier.kit.passwords import personal_words, weakness
from twotier.kit.security import hash_password_blocking
from twotier.membership.models import MembershipAccount, MembershipOrganization
from twotier.membership.schemas import MAX_ORGANIZATIONS, MembershipCreate

COLUMNS = ("username", "password", "legal_name", "country", "partner_id")
REQUIRED = COLUMNS[:4]
# Values per IN (...) query: far below SQLite's and asyncpg's 32,766 bind parameters.
CHUNK = 5_000
MAX_JOBS = 8  # each argon2id hash holds 64 MiB while it runs

T = TypeVar("T")


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class ImportRefused(Exception):
    """The file (or the database) refuses the import; nothing was written."""

    def __init__(self, errors: Sequence[RowError], reason: str | None = None) -> None:
        self.errors = list(errors)
        self.reason = reason
        super().__init__(reason or f"{len(self.errors)} bad row(s)")


@dataclass
class PlannedOrganization:
    line: int
    legal_name: str
    country: str
    partner_id: str | None  # None: one is generated when writing


@dataclass
class PlannedAccount:
    line: int  # the account's first row
    username: str
    password: str = field(repr=False)
    organizations: list[PlannedOrganization] = field(default_factory=list)


@dataclass
class ImportPlan:
    accounts: list[PlannedAccount]

    @property
    def organizations(self) -> Iterator[tuple[PlannedAccount, PlannedOrganization]]:
        for account in self.accounts:
            for org in account.organizations:
                yield account, org

    @property
    def organization_count(self) -> int:
        return sum(len(a.organizations) for a in self.accounts)


@dataclass(frozen=True)
class ImportedOrganization:
    line: int
    username: str
    legal_name: str
    country: str
    partner_id: str
    generated: bool


@dataclass(frozen=True)
class ImportSummary:
    accounts: int
    organizations: list[ImportedOrganization]

    @property
    def generated_partner_ids(self) -> int:
        return sum(1 for o in self.organizations if o.generated)


class Progress(Protocol):
    """What the importer reports while it works (the CLI draws it as progress bars)."""

    def stage(self, description: str, total: int) -> None: ...

    def advance(self, amount: int = 1) -> None: ...


class _Silent:
    def stage(self, description: str, total: int) -> None:
        return None

    def advance(self, amount: int = 1) -> None:
        return None


def default_jobs() -> int:
    """Hashing threads: the CPUs this process may use, at most ``MAX_JOBS``."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover — not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_JOBS, cpus))


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Reading the file.


def _describe(error: Any) -> str:
    loc = [part for part in error.get("loc", ()) if isinstance(part, str)]
    column = loc[-1] if loc else "row"
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    return f"{column}: {message}"


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportRefused([RowError(line, "is not UTF-8 text")]) from exc


def _header(fields: list[str]) -> list[str]:
    names = [name.strip().lower() for name in fields]
    problems = []
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        problems.append("unknown column(s) " + ", ".join(repr(n) for n in unknown))
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        problems.append("missing column(s) " + ", ".join(missing))
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append("repeated column(s) " + ", ".join(repeated))
    if problems:
        expected = ",".join(COLUMNS)
        raise ImportRefused([RowError(1, "; ".join(problems) + f" (expected {expected})")])
    return names


def parse(data: bytes | str, *, progress: Progress | None = None) -> ImportPlan:
    """Check every row of the file; the plan, or ``ImportRefused`` listing every bad row."""
    text = _decode(data) if isinstance(data, bytes) else data.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        first = next(reader, None)
        if first is None:
            raise ImportRefused(
                [RowError(1, "the file is empty; expected the header " + ",".join(COLUMNS))]
            )
        header = _header(first)
        problems: dict[int, list[str]] = {}
        accounts: dict[str, PlannedAccount] = {}
        partner_lines: dict[str, int] = {}
        previous_end = reader.line_num
        for fields in reader:
            line, previous_end = previous_end + 1, reader.line_num
            if not any(value.strip() for value in fields):
                continue  # a blank line (or one of only commas)
            if len(fields) != len(header):
                problems[line] = [f"has {len(fields)} fields; the header has {len(header)}"]
                continue
            values = dict(zip(header, fields, strict=True))
            row_problems = _plan_row(line, values, accounts, partner_lines)
            if row_problems:
                problems[line] = row_problems
    except csv.Error as exc:
        raise ImportRefused([RowError(reader.line_num, f"is not valid CSV ({exc})")]) from exc
    _check_passwords(accounts.values(), problems, progress or _Silent())
    if problems:
        raise ImportRefused(
            [RowError(line, "; ".join(msgs)) for line, msgs in sorted(problems.items())]
        )
    if not accounts:
        raise ImportRefused([RowError(1, "the file has a header but no rows")])
    return ImportPlan(list(accounts.values()))


def _plan_row(
    line: int,
    values: dict[str, str],
    accounts: dict[str, PlannedAccount],
    partner_lines: dict[str, int],
) -> list[str]:
    """Validate one row with the registry's schema and add it to ``accounts``; its problems."""
    try:
        row = MembershipCreate.model_validate(
            {
                "username": values["username"],
                "password": values["password"],
                "organizations": [
                    {
                        "legal_name": values["legal_name"],
                        "country": values["country"],
                        "partner_id": values.get("partner_id", "").strip() or None,
                    }
                ],
            }
        )
    except ValidationError as exc:
        return [_describe(error) for error in exc.errors(include_input=False)]
    org = row.organizations[0]
    problems = []
    if org.partner_id is not None:
        first = partner_lines.setdefault(org.partner_id, line)
        if first != line:
            problems.append(f"partner ID {org.partner_id} is also on line {first}")
    account = accounts.get(row.username)
    if account is not None and account.password != row.password:
        problems.append(
            f"the password differs from line {account.line}'s for the same username "
            f"{row.username}; an account has one password"
        )
    if account is not None and len(account.organizations) >= MAX_ORGANIZATIONS:
        problems.append(
            f"{row.username} would hold more than {MAX_ORGANIZATIONS} organizations "
            f"(its first row is line {account.line})"
        )
    if problems:
        return problems
    if account is None:
        account = accounts[row.username] = PlannedAccount(line, row.username, row.password)
    account.organizations.append(
        PlannedOrganization(line, org.legal_name, org.country, org.partner_id)
    )
    return []


def _check_passwords(
    accounts: Iterable[PlannedAccount], problems: dict[int, list[str]], progress: Progress
) -> None:
    """zxcvbn once per account (a few ms each), reported on the account's first line."""
    planned = list(accounts)
    progress.stage("Checking passwords", len(planned))
    for account in planned:
        names = [org.legal_name for org in account.organizations]
        reason = weakness(account.password, personal_words(account.username, *names))
        if reason is not None:
            problems.setdefault(account.line, []).append(f"password: {reason}")
        progress.advance()


# Against the database.


async def _existing(session: AsyncSession, column: Any, values: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(values):
        found.update(await session.scalars(select(column).where(column.in_(chunk))))
    return found


async def find_conflicts(session: AsyncSession, plan: ImportPlan) -> list[RowError]:
    """Rows whose username is taken or whose partner ID exists, in two or so queries."""
    taken = await _existing(
        session, MembershipAccount.username, [a.username for a in plan.accounts]
    )
    wanted = [o.partner_id for _a, o in plan.organizations if o.partner_id is not None]
    existing = await _existing(session, MembershipOrganization.partner_id, wanted)
    errors = []
    for account, org in plan.organizations:
        problems = []
        if account.username in taken:
            problems.append(f"username {account.username} is taken")
        if org.partner_id in existing:
            problems.append(f"partner ID {org.partner_id} already exists")
        if problems:
            errors.append(RowError(org.line, "; ".join(problems)))
    return sorted(errors, key=lambda e: e.line)


def _random_partner_id() -> str:
    return str(secrets.randbelow(9_000_000) + 1_000_000)


async def allocate_partner_ids(session: AsyncSession, plan: ImportPlan) -> dict[int, str]:
    """A free, unique partner ID for every row without one: ``{line: partner ID}``."""
    taken = {o.partner_id for _a, o in plan.organizations if o.partner_id is not None}
    pending = [o.line for _a, o in plan.organizations if o.partner_id is None]
    out: dict[int, str] = {}
    for _ in range(20):
        if not pending:
            return out
        candidates: dict[str, int] = {}
        for line in pending:
            candidate = _random_partner_id()
            while candidate in taken or candidate in candidates:
                candidate = _random_partner_id()
            candidates[candidate] = line
        clashes = await _existing(session, MembershipOrganization.partner_id, list(candidates))
        pending = []
        for candidate, line in candidates.items():
            if candidate in clashes:
                pending.append(line)
            else:
                out[line] = candidate
                taken.add(candidate)
    raise ImportRefused([], "Could not allocate free partner IDs; nothing was imported.")


# Hashing and writing.


async def hash_passwords(
    plan: ImportPlan, *, jobs: int | None = None, progress: Progress | None = None
) -> dict[str, str]:
    """One argon2id hash per account (``{username: hash}``), ``jobs`` at a time in threads."""
    progress = progress or _Silent()
    progress.stage("Hashing passwords", len(plan.accounts))
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=jobs or default_jobs(), thread_name_prefix="argon2")

    async def one(account: PlannedAccount) -> tuple[str, str]:
        digest = await loop.run_in_executor(pool, hash_password_blocking, account.password)
        progress.advance()
        return account.username, digest

    try:
        return dict(await asyncio.gather(*(one(a) for a in plan.accounts)))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


async def write(
    session: AsyncSession,
    plan: ImportPlan,
    hashes: dict[str, str],
    *,
    source: str | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Re-check and write the plan in the caller's transaction (bulk inserts, one audit)."""
    progress = progress or _Silent()
    errors = await find_conflicts(session, plan)
    if errors:
        raise ImportRefused(errors)
    generated = await allocate_partner_ids(session, plan)
    now = utcnow()
    account_rows: list[dict[str, Any]] = []
    org_rows: list[dict[str, Any]] = []
    imported: list[ImportedOrganization] = []
    for account in plan.accounts:
        account_id = uuid.uuid4()
        account_rows.append(
            {
                "id": account_id,
                "username": account.username,
                "password_hash": hashes[account.username],
                "created_at": now,
            }
        )
        for org in account.organizations:
            partner_id = org.partner_id or generated[org.line]
            org_rows.append(
                {
                    "id": uuid.uuid4(),
                    "account_id": account_id,
                    "partner_id": partner_id,
                    "legal_name": org.legal_name,
                    "country": org.country,
                    "created_at": now,
                }
            )
            imported.append(
                ImportedOrganization(
                    org.line,
                    account.username,
                    org.legal_name,
                    org.country,
                    partner_id,
                    generated=org.partner_id is None,
                )
            )
    progress.stage("Writing", len(account_rows) + len(org_rows))
    for model, rows in ((MembershipAccount, account_rows), (MembershipOrganization, org_rows)):
        for chunk in _chunks(rows, 1_000):
            await session.execute(insert(model), list(chunk))
            progress.advance(len(chunk))
    summary = ImportSummary(len(account_rows), imported)
    await events.announce(
        session,
        None,
        "memberships_imported",
        resource_type="membership",
        resource_id=None,
        detail={
            "source": source,
            "accounts": summary.accounts,
            "organizations": len(imported),
            "generated_partner_ids": summary.generated_partner_ids,
        },
    )
    await session.flush()
    return summary


async def import_memberships(
    db: Database,
    data: bytes | str,
    *,
    source: str | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Check, hash, then write everything in one transaction; ``ImportRefused`` otherwise."""
    plan = parse(data, progress=progress)
    async with db.read_sessions() as session:
        errors = await find_conflicts(session, plan)
    if errors:
        raise ImportRefused(errors)
    # Hashing takes minutes for large files: done before the write transaction opens, so
    # it never holds SQLite's write lock (or PostgreSQL row locks) that long.
    hashes = await hash_passwords(plan, jobs=jobs, progress=progress)
    try:
        async with db.write_sessions() as session, session.begin():
            return await write(session, plan, hashes, source=source, progress=progress)
    except IntegrityError as exc:  # another writer got there between the check and the insert
        raise ImportRefused(
            [],
            "A username or partner ID in the file was added to the registry during the "
            "import; nothing was imported. Run the import again to see which.",
        ) from exc


def write_partner_ids(rows: Iterable[ImportedOrganization], out: TextIO) -> None:
    """The imported organizations with their partner IDs, as CSV (never the passwords)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["line", "username", "legal_name", "country", "partner_id", "generated"])
    for row in rows:
        writer.writerow(
            [row.line, row.username, row.legal_name, row.country, row.partner_id, row.generated]
        )
