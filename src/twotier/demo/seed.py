"""The demo world: an operator and sample organizations to click through every flow.

Idempotent: what exists already (by domain or email) is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.config import Settings
from twotier.directory import service as directory
from twotier.directory.models import Tenant, User
from twotier.directory.schemas import AdminIn, TenantCreate
from twotier.kit.db import Database
from twotier.operator.service import create_operator

DEMO_PASSWORD = "twotier-demo-2026"  # noqa: S105 — printed to the developer on purpose


@dataclass(frozen=True)
class DemoOrg:
    display_name: str
    domain: str
    country: str
    admin_email: str
    admin_name: str
    role: str


OPERATOR_EMAIL = "operator@twotier.example"

DEMO_ORGS = (
    DemoOrg(
        "Contoso Distribution",
        "contoso-distribution.example",
        "TW",
        "admin@contoso-distribution.example",
        "Chen Mei-ling",
        "indirect provider (to be)",
    ),
    DemoOrg(
        "Fabrikam Cloud Resellers",
        "fabrikam.example",
        "TW",
        "admin@fabrikam.example",
        "Lin Wei",
        "indirect reseller (to be)",
    ),
    DemoOrg(
        "Northwind Traders",
        "northwind.example",
        "TW",
        "admin@northwind.example",
        "Wang Hsiao-yu",
        "customer",
    ),
)


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    sign_ins: list[tuple[str, str]] = field(default_factory=list)


async def ensure_org(
    session: AsyncSession, settings: Settings, org: DemoOrg, report: SeedReport
) -> None:
    report.sign_ins.append((org.admin_email, org.role))
    if await session.scalar(select(Tenant.id).where(Tenant.domain == org.domain)):
        return
    if await session.scalar(select(User.id).where(User.email == org.admin_email)):
        return
    await directory.create_tenant(
        session,
        settings,
        TenantCreate(
            display_name=org.display_name,
            domain=org.domain,
            country=org.country,
            admin=AdminIn(
                email=org.admin_email, display_name=org.admin_name, password=DEMO_PASSWORD
            ),
        ),
    )
    report.created.append(org.display_name)


async def seed(db: Database, settings: Settings) -> SeedReport:
    report = SeedReport()
    async with db.write_sessions() as session, session.begin():
        report.sign_ins.append((OPERATOR_EMAIL, "operator"))
        if not await session.scalar(select(User.id).where(User.email == OPERATOR_EMAIL)):
            await create_operator(
                session, email=OPERATOR_EMAIL, password=DEMO_PASSWORD, name="Olivia Operator"
            )
            report.created.append("operator")
        for org in DEMO_ORGS:
            await ensure_org(session, settings, org, report)
    return report


async def is_empty(db: Database) -> bool:
    async with db.read_sessions() as session:
        count = await session.scalar(select(func.count()).select_from(Tenant))
    return not count
