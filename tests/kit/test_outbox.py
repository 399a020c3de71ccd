"""The transactional outbox: delivered after commit, retried, never twice, survives a kill."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.smtp import SMTP
from sqlalchemy import func, select

from tests.factories import mailbox
from twotier.config import EmailBackend, Settings
from twotier.kit import clock
from twotier.kit.db import Database
from twotier.kit.email import queue_email
from twotier.kit.outbox import (
    DEAD,
    DELIVERED,
    PENDING,
    DeliveryContext,
    OutboxMessage,
    Worker,
    backoff_seconds,
)
from twotier.mail.delivery import deliver_email
from twotier.mail.models import MailboxMessage

TWOTIER = Path(sys.executable).parent / "twotier"


class Receiver:
    """An aiosmtpd handler that keeps what it accepted.

    A message counts as received only when DATA is answered ``250``; refusals and
    connections that end before DATA record nothing.
    """

    def __init__(self) -> None:
        self.port = 0
        self.received: list[EmailMessage] = []
        self.refusals = 0  # how many DATA commands to refuse before accepting
        self.refusal_reply = "451 4.3.0 Try again later"
        self.refused = 0
        # Hold the next RCPT until ``release`` is set (a delivery provably in flight).
        self.hold_next = False
        self.held = asyncio.Event()
        self.held_rcpt: str | None = None
        self.held_reply = "250 OK"  # what the held RCPT answers once released
        self.release = asyncio.Event()

    async def handle_RCPT(  # noqa: N802 — aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.hold_next:
            self.hold_next = False
            self.held_rcpt = address
            self.held.set()
            await self.release.wait()
            if not self.held_reply.startswith("250"):
                return self.held_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 — aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        if self.refusals > 0:
            self.refusals -= 1
            self.refused += 1
            return self.refusal_reply
        raw = envelope.original_content or envelope.content
        message = BytesParser(policy=default_policy).parsebytes(raw)
        self.received.append(message)
        return "250 2.0.0 Accepted"

    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]) for m in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    handler = Receiver()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="localhost", loop=loop), "127.0.0.1", 0
    )
    handler.port = server.sockets[0].getsockname()[1]
    try:
        yield handler
    finally:
        handler.release.set()
        server.close()
        await server.wait_closed()


@pytest.fixture
def smtp_settings(settings: Settings, receiver: Receiver) -> Settings:
    return settings.model_copy(
        update={
            "email_backend": EmailBackend.smtp,
            "smtp_host": "127.0.0.1",
            "smtp_port": receiver.port,
            "smtp_timeout_seconds": 10.0,
        }
    )


async def until(predicate: Callable[[], Any]) -> None:
    """Poll ``predicate()`` (sync or async) without blocking the loop; wrap in a timeout."""
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.05)


async def outbox_rows(db: Database) -> list[OutboxMessage]:
    async with db.read_sessions() as session:
        return list((await session.scalars(select(OutboxMessage))).all())


async def only_row(db: Database) -> OutboxMessage:
    rows = await outbox_rows(db)
    assert len(rows) == 1
    return rows[0]


async def queue(db: Database, settings: Settings, count: int, *, prefix: str = "user") -> list[str]:
    """Commit ``count`` emails (to distinct recipients); returns their Message-IDs."""
    async with db.write_sessions() as session, session.begin():
        return [
            queue_email(
                session,
                settings,
                to=f"{prefix}{i}@example.test",
                subject=f"Hello {i}",
                body=f"#{i}",
            )
            for i in range(count)
        ]


@pytest.mark.committed
async def test_email_is_delivered_only_if_its_transaction_commits(
    committed_db: Database, settings: Settings
) -> None:
    async with committed_db.write_sessions() as session:
        await session.begin()
        lost = queue_email(
            session, settings, to="lost@example.test", subject="Lost", body="never sent"
        )
        await session.flush()  # the row is written, then the transaction rolls back
        await session.rollback()
    async with committed_db.write_sessions() as session, session.begin():
        kept = queue_email(session, settings, to="kept@example.test", subject="Kept", body="sent")

    assert await Worker(committed_db, settings).run_once() == 1

    async with committed_db.read_sessions() as session:
        mailbox = (await session.scalars(select(MailboxMessage))).all()
    assert [m.message_id for m in mailbox] == [kept]
    assert lost != kept
    row = await only_row(committed_db)
    assert row.payload["message_id"] == kept
    assert row.status == DELIVERED


@pytest.mark.committed
async def test_smtp_delivery_sends_the_message_with_its_message_id(
    committed_db: Database, smtp_settings: Settings, receiver: Receiver
) -> None:
    async with committed_db.write_sessions() as session, session.begin():
        message_id = queue_email(
            session, smtp_settings, to="ada@example.test", subject="Welcome", body="Hello, Ada."
        )

    assert await Worker(committed_db, smtp_settings).run_once() == 1

    assert len(receiver.received) == 1
    message = receiver.received[0]
    assert message["To"] == "ada@example.test"
    assert message["Subject"] == "Welcome"
    assert message["From"] == smtp_settings.email_from
    assert message["Message-ID"] == message_id
    assert message.get_content().strip() == "Hello, Ada."
    row = await only_row(committed_db)
    assert row.status == DELIVERED
    assert row.attempts == 1
    assert row.delivered_at is not None
    assert row.claim_token is None


@pytest.mark.committed
async def test_refused_delivery_is_retried_after_backoff_and_arrives_once(
    committed_db: Database, smtp_settings: Settings, receiver: Receiver
) -> None:
    receiver.refusals = 1
    (message_id,) = await queue(committed_db, smtp_settings, 1)
    worker = Worker(committed_db, smtp_settings)

    assert await worker.run_once() == 1
    row = await only_row(committed_db)
    assert receiver.refused == 1
    assert receiver.received == []
    assert row.status == PENDING
    assert row.attempts == 1
    assert row.last_error is not None
    assert "451" in row.last_error
    assert row.next_attempt_at > clock.utcnow()
    assert row.claim_token is None

    # Not due yet: nothing is attempted before the backoff has passed.
    assert await worker.run_once() == 0

    clock.travel(smtp_settings.outbox_backoff_base_seconds + 1)
    assert await worker.run_once() == 1
    row = await only_row(committed_db)
    assert row.status == DELIVERED
    assert row.attempts == 2
    assert row.last_error is None
    assert receiver.message_ids() == [message_id]


@pytest.mark.committed
async def test_delivery_refused_max_attempts_times_becomes_dead(
    committed_db: Database, smtp_settings: Settings, receiver: Receiver
) -> None:
    settings = smtp_settings.model_copy(update={"outbox_max_attempts": 3})
    receiver.refusals = 1000
    receiver.refusal_reply = "550 5.7.1 Refused"
    await queue(committed_db, settings, 1)
    worker = Worker(committed_db, settings)

    for attempt in (1, 2):
        assert await worker.run_once() == 1
        row = await only_row(committed_db)
        assert (row.status, row.attempts) == (PENDING, attempt)
        clock.travel(settings.outbox_backoff_base_seconds * 2**attempt + 1)

    assert await worker.run_once() == 1
    row = await only_row(committed_db)
    assert (row.status, row.attempts) == (DEAD, 3)
    assert row.last_error is not None
    assert "550" in row.last_error

    clock.travel(24 * 3600)
    assert await worker.run_once() == 0
    assert receiver.refused == 3
    assert receiver.received == []


@pytest.mark.committed
async def test_two_concurrent_workers_never_deliver_a_message_twice(
    committed_db: Database, database_url: str, smtp_settings: Settings, receiver: Receiver
) -> None:
    # One row per claim: the two workers' claims interleave as often as they can.
    settings = smtp_settings.model_copy(update={"outbox_batch_size": 1})
    message_ids = await queue(committed_db, settings, 30)
    dbs = [Database(database_url) for _ in range(2)]  # as two processes would have
    try:
        async with asyncio.timeout(30):
            attempted = await asyncio.gather(
                Worker(dbs[0], settings, name="a").run_once(),
                Worker(dbs[1], settings, name="b").run_once(),
            )
    finally:
        for database in dbs:
            await database.dispose()

    assert all(attempted), attempted  # both workers took part
    assert sum(attempted) == 30  # no row was claimed by both
    counts = Counter(receiver.message_ids())
    assert set(counts) == set(message_ids)
    assert set(counts.values()) == {1}
    rows = await outbox_rows(committed_db)
    assert {(r.status, r.attempts) for r in rows} == {(DELIVERED, 1)}


@pytest.mark.committed
async def test_rows_whose_lease_ran_out_before_their_turn_are_not_delivered_again(
    committed_db: Database, smtp_settings: Settings, receiver: Receiver
) -> None:
    settings = smtp_settings.model_copy(update={"outbox_batch_size": 3, "outbox_lease_seconds": 60})
    message_ids = await queue(committed_db, settings, 3)
    receiver.hold_next = True
    # The stuck delivery fails in the end; the others of its batch were never started.
    receiver.held_reply = "451 4.4.1 Held past the lease"
    slow = asyncio.create_task(Worker(committed_db, settings, name="slow").run_once())
    try:
        async with asyncio.timeout(10):
            await receiver.held.wait()
        # Stuck on the first message of its batch, the slow worker's lease runs out and
        # another worker takes the whole batch over and delivers it.
        clock.travel(settings.outbox_lease_seconds + 1)
        async with asyncio.timeout(10):
            assert await Worker(committed_db, settings, name="other").run_once() == 3
        receiver.release.set()
        async with asyncio.timeout(10):
            assert await slow == 1  # it gave up the rows it no longer held
    finally:
        receiver.release.set()
        if not slow.done():
            slow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await slow

    counts = Counter(receiver.message_ids())
    assert set(counts) == set(message_ids)
    assert set(counts.values()) == {1}
    rows = await outbox_rows(committed_db)
    assert {r.status for r in rows} == {DELIVERED}


class WorkerProcess:
    """A real ``twotier worker`` process, its output in a log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(TWOTIER), "worker"],
                env=env,
                cwd=log_path.parent,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def kill(self) -> None:
        self.proc.kill()
        await asyncio.to_thread(self.proc.wait, 10)

    async def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            await asyncio.to_thread(self.proc.wait, 10)
        except subprocess.TimeoutExpired:
            await self.kill()


def worker_env(database_url: str, smtp_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOTIER_")}
    env.update(
        TWOTIER_ENV="test",
        TWOTIER_DATABASE_URL=database_url,
        TWOTIER_EMAIL_BACKEND="smtp",
        TWOTIER_SMTP_HOST="127.0.0.1",
        TWOTIER_SMTP_PORT=str(smtp_port),
        TWOTIER_SMTP_TIMEOUT_SECONDS="10",
        TWOTIER_OUTBOX_LEASE_SECONDS="2",
        TWOTIER_OUTBOX_POLL_SECONDS="0.2",
    )
    return env


@pytest.mark.committed
async def test_worker_killed_mid_delivery_loses_nothing_and_duplicates_nothing(
    committed_db: Database,
    database_url: str,
    settings: Settings,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    message_ids = await queue(committed_db, settings, 5)
    env = worker_env(database_url, receiver.port)
    receiver.hold_next = True  # the first delivery stops at RCPT, before any DATA

    first = WorkerProcess(env, tmp_path / "worker-1.log")
    second: WorkerProcess | None = None
    try:
        try:
            await asyncio.wait_for(receiver.held.wait(), timeout=20)
        except TimeoutError:
            pytest.fail(f"the first worker never reached the SMTP server:\n{first.log()}")
        # Provably mid-delivery: the row is claimed, not delivered, and the server has
        # the connection open.
        rows = {r.payload["to"]: r for r in await outbox_rows(committed_db)}
        held = rows[str(receiver.held_rcpt)]
        assert (held.status, held.attempts) == (PENDING, 1)
        assert held.claim_token is not None

        await first.kill()
        assert first.proc.returncode == -9
        receiver.release.set()
        assert receiver.received == []

        second = WorkerProcess(env, tmp_path / "worker-2.log")

        async def all_delivered() -> bool:
            return {r.status for r in await outbox_rows(committed_db)} == {DELIVERED}

        try:
            async with asyncio.timeout(30):
                await until(lambda: len(receiver.received) >= len(message_ids))
                await until(all_delivered)
        except TimeoutError:
            pytest.fail(
                f"not all delivered: got {len(receiver.received)} of {len(message_ids)};"
                f" second worker's log:\n{second.log()}"
            )
    finally:
        await first.stop()
        if second is not None:
            await second.stop()

    counts = Counter(receiver.message_ids())
    assert set(counts) == set(message_ids)
    assert set(counts.values()) == {1}
    rows = {r.payload["to"]: r for r in await outbox_rows(committed_db)}
    assert rows[str(receiver.held_rcpt)].attempts == 2  # retried after the lease ran out


async def test_mailbox_stores_a_message_once_and_lists_it(
    db: Database, settings: Settings, client: httpx.AsyncClient
) -> None:
    message_id = f"<{uuid.uuid4().hex}@testserver>"
    payload = {
        "to": "Grace@Example.test",
        "subject": "Your invitation",
        "body": "Welcome aboard.",
        "message_id": message_id,
    }
    ctx = DeliveryContext(settings, db, uuid.uuid4(), 1)
    await deliver_email(payload, ctx)
    await deliver_email(payload, DeliveryContext(settings, db, ctx.message_id, 2))

    async with db.read_sessions() as session:
        stored = await session.scalar(
            select(func.count())
            .select_from(MailboxMessage)
            .where(MailboxMessage.message_id == message_id)
        )
    assert stored == 1

    items = await mailbox(client, "grace@example.test")
    assert len(items) == 1
    item = items[0]
    assert item["to"] == "grace@example.test"
    assert item["subject"] == "Your invitation"
    assert item["body"] == "Welcome aboard."
    assert item["message_id"] == message_id
    uuid.UUID(item["id"])
    assert item["sent_at"]

    assert await mailbox(client, "nobody@example.test") == []


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    for _ in range(50):
        assert 5 <= backoff_seconds(1, 10) <= 10
        assert 20 <= backoff_seconds(3, 10) <= 40
        assert 3 * 3600 <= backoff_seconds(30, 10) <= 6 * 3600  # the default cap
        assert 6 * 3600 <= backoff_seconds(30, 10, cap=12 * 3600) <= 12 * 3600
