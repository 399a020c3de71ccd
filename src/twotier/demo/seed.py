"""The demo world: an operator and sample organizations to click through every flow.

- Contoso Distribution: an approved indirect provider (on the official provider list);
- Fabrikam Cloud Resellers: an approved indirect reseller whose admin is an admin agent;
- Northwind Traders: a customer of both (two-tier), with a few users and, ordered by Contoso
  with Fabrikam as partner of record, 25 seats of Contoso 365 Business Standard (some
  assigned) and 2 of Business Premium;
- a catalog of a few products and offers, priced in Taiwan (the demo tenants' country) and in
  a few other countries;
- the membership account ``newcomer``, holding a Taiwanese organization that is not enrolled
  anywhere yet: create a tenant in Taiwan at /signup and enroll it with this sign-in.

Contoso and Fabrikam go through the real enrollment flow (membership sign-in, the emailed
confirmation link, the operator's approval), so their rows, emails and audit records are
what a real enrollment leaves.

Idempotent: what exists already (by domain, email, username or partner account) is left as
it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.channel import service as channel
from twotier.channel.models import ResellerLink
from twotier.channel.schemas import ResellerInvitationCreate
from twotier.commerce import catalog, licenses
from twotier.commerce import service as commerce
from twotier.commerce.models import Offer, Product, Sku, Subscription
from twotier.commerce.schemas import LicenseUpdate, OfferCreate, OrderCreate, ProductCreate
from twotier.config import Settings
from twotier.customers import service as customers
from twotier.customers.models import CustomerRelationship
from twotier.customers.schemas import CustomerInvitationCreate
from twotier.directory import service as directory
from twotier.directory.auth import principal_for_user
from twotier.directory.models import PartnerAccount, Program, Tenant, User
from twotier.directory.principal import PartnerRole, Principal
from twotier.directory.schemas import AdminIn, PartnerRolesIn, TenantCreate, UserCreate
from twotier.enrollment import service as enrollment_service
from twotier.enrollment.models import OPEN_ENROLLMENT, Enrollment, EnrollmentStatus
from twotier.enrollment.schemas import EnrollmentCreate
from twotier.invitations import service as invitations
from twotier.invitations.models import Invitation, InvitationStatus
from twotier.kit.db import Database
from twotier.kit.email import EMAIL
from twotier.kit.errors import AppError
from twotier.kit.outbox import PENDING, OutboxMessage
from twotier.membership import service as membership
from twotier.membership.models import MembershipAccount, MembershipOrganization
from twotier.membership.schemas import MembershipCreate, OrganizationIn
from twotier.operator.service import create_operator
from twotier.partners import service as partners

DEMO_PASSWORD = "amber-kettle-drifts-north"  # noqa: S105 — printed to the developer on purpose
DEMO_CLIENT = "demo-seed"  # the "client address" the seed's membership sign-ins count against


@dataclass(frozen=True)
class DemoMembership:
    """A membership-registry account holding one organization profile."""

    username: str
    partner_id: str
    legal_name: str
    country: str


@dataclass(frozen=True)
class DemoPartner:
    """How a demo organization becomes a partner (through the real enrollment flow)."""

    program: str
    membership: DemoMembership
    contact_first_name: str
    contact_last_name: str
    address_line1: str
    postal_code: str
    partner_roles: tuple[PartnerRole, ...] = ()


@dataclass(frozen=True)
class DemoOrg:
    display_name: str
    domain: str
    country: str
    admin_email: str
    admin_name: str
    role: str
    partner: DemoPartner | None = None


OPERATOR_EMAIL = "operator@twotier.example"

CONTOSO_MEMBERSHIP = DemoMembership("contoso", "4100001", "Contoso Distribution Ltd", "TW")
FABRIKAM_MEMBERSHIP = DemoMembership("fabrikam", "4100002", "Fabrikam Cloud Resellers Ltd", "TW")
# For a newcomer's own tenant (created at /signup, country Taiwan) to enroll.
NEWCOMER_MEMBERSHIP = DemoMembership("newcomer", "4100003", "Adatum Cloud Services Ltd", "TW")

DEMO_ORGS = (
    DemoOrg(
        "Contoso Distribution",
        "contoso-distribution.example",
        "TW",
        "admin@contoso-distribution.example",
        "Chen Mei-ling",
        "indirect provider (admin agent)",
        DemoPartner(
            Program.indirect_provider,
            CONTOSO_MEMBERSHIP,
            "Mei-ling",
            "Chen",
            "7 Songren Road, Xinyi District",
            "110",
            partner_roles=(PartnerRole.admin_agent,),
        ),
    ),
    DemoOrg(
        "Fabrikam Cloud Resellers",
        "fabrikam.example",
        "TW",
        "admin@fabrikam.example",
        "Lin Wei",
        "indirect reseller (admin agent)",
        DemoPartner(
            Program.indirect_reseller,
            FABRIKAM_MEMBERSHIP,
            "Wei",
            "Lin",
            "1 Zhongxiao East Road, Da'an District",
            "106",
            partner_roles=(PartnerRole.admin_agent,),
        ),
    ),
    DemoOrg(
        "Northwind Traders",
        "northwind.example",
        "TW",
        "admin@northwind.example",
        "Wang Hsiao-yu",
        "customer of Fabrikam and Contoso (two-tier)",
    ),
    DemoOrg(
        "Wide World Importers",
        "wideworldimporters.example",
        "TW",
        "admin@wideworldimporters.example",
        "Huang Jia-hao",
        "customer of Fabrikam only",
    ),
)

DEMO_MEMBERSHIPS = (CONTOSO_MEMBERSHIP, FABRIKAM_MEMBERSHIP, NEWCOMER_MEMBERSHIP)


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    sign_ins: list[tuple[str, str]] = field(default_factory=list)
    # (username, partner ID, legal name): the registry sign-in a newcomer enrolls with.
    newcomer: tuple[str, str, str] | None = None
    notes: list[str] = field(default_factory=list)
    # The link of Contoso's pending reseller invitation, while it is pending.
    pending_invitation_url: str | None = None


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


async def ensure_membership(
    session: AsyncSession, demo: DemoMembership, report: SeedReport
) -> MembershipOrganization | None:
    """The registry account and its organization; None if the username holds another one."""
    account = await session.scalar(
        select(MembershipAccount).where(MembershipAccount.username == demo.username)
    )
    if account is None:
        taken = await session.scalar(
            select(MembershipOrganization.id).where(
                MembershipOrganization.partner_id == demo.partner_id
            )
        )
        account = await membership.create_membership(
            session,
            MembershipCreate(
                username=demo.username,
                password=DEMO_PASSWORD,
                organizations=[
                    OrganizationIn(
                        legal_name=demo.legal_name,
                        country=demo.country,
                        partner_id=None if taken else demo.partner_id,  # generated if taken
                    )
                ],
            ),
        )
        report.created.append(f"membership {demo.username}")
    orgs = (await membership.organizations_of(session, [account.id]))[account.id]
    return next((o for o in orgs if o.country == demo.country), None)


async def _principal(session: AsyncSession, user: User) -> Principal:
    """What ``user`` may do when signed in (the seed acts for it, as the portal would)."""
    await session.flush()
    return await principal_for_user(session, user.id)


_LINK = re.compile(r"/enroll/verify\?token=([A-Za-z0-9_\-]+)")


async def _emailed_token(session: AsyncSession, to: str) -> str:
    """The confirmation token in the newest (not yet delivered) email to ``to``."""
    await session.flush()
    messages = await session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.kind == EMAIL, OutboxMessage.status == PENDING)
        .order_by(OutboxMessage.created_at.desc())
    )
    for message in messages:
        found = _LINK.search(str(message.payload.get("body", "")))
        if message.payload.get("to") == to and found:
            return found.group(1)
    raise LookupError(f"no confirmation email to {to}")  # pragma: no cover — create sends it


def _enrollment_body(org: DemoOrg, demo: DemoPartner, partner_id: str) -> EnrollmentCreate:
    return EnrollmentCreate.model_validate(
        {
            "program": demo.program,
            "membership": {
                "username": demo.membership.username,
                "password": DEMO_PASSWORD,
                "partner_id": partner_id,
            },
            "legal_profile": {
                "company_name": demo.membership.legal_name,
                "address": {
                    "line1": demo.address_line1,
                    "city": "Taipei",
                    "postal_code": demo.postal_code,
                    "country": org.country,
                },
            },
            "primary_contact": {
                "first_name": demo.contact_first_name,
                "last_name": demo.contact_last_name,
                "email": org.admin_email,
                "phone": "+886 2 2720 1234",
            },
            "support_profile": {
                "email": f"support@{org.domain}",
                "phone": "+886 2 2720 5678",
                "website": f"https://{org.domain}/support",
            },
        }
    )


async def ensure_partner(
    session: AsyncSession,
    settings: Settings,
    org: DemoOrg,
    operator: Principal,
    report: SeedReport,
) -> None:
    """Enroll ``org`` as its admin would, confirm the emailed link, approve as the operator."""
    demo = org.partner
    if demo is None:
        return
    admin = await session.scalar(
        select(User)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(User.email == org.admin_email, Tenant.domain == org.domain)
    )
    if admin is None:
        return  # the domain or the email belongs to something else: left as it is
    partner = await partners.partner_of_tenant(session, admin.tenant_id)
    if partner is not None and demo.program in await partners.programs_of(session, partner.id):
        return
    started = await session.scalar(
        select(Enrollment.id).where(
            Enrollment.tenant_id == admin.tenant_id, Enrollment.status.in_(OPEN_ENROLLMENT)
        )
    )
    if started is not None:
        return  # someone is enrolling it by hand: left as it is
    registered = await ensure_membership(session, demo.membership, report)
    if registered is None:
        report.notes.append(f"{org.display_name} not enrolled: its membership account differs.")
        return
    try:
        async with session.begin_nested():
            principal = await _principal(session, admin)
            enrollment = await enrollment_service.create(
                session,
                settings,
                principal,
                _enrollment_body(org, demo, registered.partner_id),
                DEMO_CLIENT,
            )
            if enrollment.status != EnrollmentStatus.approved:  # not the partner's shortcut
                token = await _emailed_token(session, org.admin_email)
                await enrollment_service.verify_email(session, settings, token)
                await enrollment_service.approve(session, settings, operator, enrollment.id)
            if demo.partner_roles:
                await directory.set_partner_roles(
                    session,
                    await _principal(session, admin),  # a partner now
                    admin.id,
                    PartnerRolesIn.model_validate(
                        {"partner_roles": sorted({*admin.partner_roles, *demo.partner_roles})}
                    ),
                )
    except AppError as exc:
        report.notes.append(f"{org.display_name} not enrolled: {exc.detail}")
        return
    report.created.append(f"{org.display_name} approved as {demo.program.replace('_', ' ')}")


PENDING_INVITEE = "partners@tailspin.example"


async def _partner_admin(session: AsyncSession, org: DemoOrg) -> User | None:
    return await session.scalar(
        select(User)
        .join(Tenant, Tenant.id == User.tenant_id)
        .join(PartnerAccount, PartnerAccount.tenant_id == Tenant.id)
        .where(User.email == org.admin_email, Tenant.domain == org.domain)
    )


async def ensure_channel(session: AsyncSession, settings: Settings, report: SeedReport) -> None:
    """Fabrikam authorized Contoso (through a real invitation); Contoso has one more pending."""
    contoso, fabrikam = DEMO_ORGS[0], DEMO_ORGS[1]
    provider_admin = await _partner_admin(session, contoso)
    reseller_admin = await _partner_admin(session, fabrikam)
    if provider_admin is None or reseller_admin is None:
        return
    provider = await _principal(session, provider_admin)
    reseller = await _principal(session, reseller_admin)
    if not (
        provider.in_program(Program.indirect_provider)
        and reseller.in_program(Program.indirect_reseller)
    ):
        return
    linked = await session.scalar(
        select(ResellerLink.id).where(
            ResellerLink.provider_account_id == provider.partner_account_id,
            ResellerLink.reseller_account_id == reseller.partner_account_id,
        )
    )
    try:
        async with session.begin_nested():
            if linked is None:
                sent = await channel.create_reseller_invitation(
                    session,
                    settings,
                    provider,
                    ResellerInvitationCreate(
                        email=fabrikam.admin_email, partner_id=reseller.partner_id
                    ),
                )
                invitation = await session.get_one(Invitation, sent.id)
                token = invitations.invite_token(settings, invitation.token_nonce)
                await invitations.accept(session, settings, reseller, token, consent=True)
                report.created.append("Fabrikam authorized Contoso as its indirect provider")
            pending = await session.scalar(
                select(Invitation).where(
                    Invitation.from_partner_account_id == provider.partner_account_id,
                    Invitation.email == PENDING_INVITEE,
                )
            )
            if pending is None:
                out = await channel.create_reseller_invitation(
                    session,
                    settings,
                    provider,
                    ResellerInvitationCreate(
                        email=PENDING_INVITEE,
                        message="We'd be glad to be your distributor in Taiwan.",
                    ),
                )
                report.created.append("a pending reseller invitation from Contoso")
                pending = await session.get_one(Invitation, out.id)
            if invitations.status_of(pending) == InvitationStatus.pending:
                report.pending_invitation_url = invitations.invite_url(settings, pending)
    except AppError as exc:
        report.notes.append(f"Channel demo skipped: {exc.detail}")


async def ensure_customers(session: AsyncSession, settings: Settings, report: SeedReport) -> None:
    """Northwind: two-tier (Fabrikam and Contoso); Wide World: Fabrikam only — each accepted
    by the customer's global admin through a real invitation."""
    contoso, fabrikam, northwind, wide_world = DEMO_ORGS
    reseller_admin = await _partner_admin(session, fabrikam)
    provider_admin = await _partner_admin(session, contoso)
    if reseller_admin is None or provider_admin is None:
        return
    reseller = await _principal(session, reseller_admin)
    provider = await _principal(session, provider_admin)
    for org, provider_id in ((northwind, provider.partner_account_id), (wide_world, None)):
        admin = await session.scalar(
            select(User)
            .join(Tenant, Tenant.id == User.tenant_id)
            .where(User.email == org.admin_email, Tenant.domain == org.domain)
        )
        if admin is None or reseller.partner_account_id is None:
            continue
        related = await session.scalar(
            select(CustomerRelationship.id).where(
                CustomerRelationship.customer_tenant_id == admin.tenant_id,
                CustomerRelationship.partner_account_id == reseller.partner_account_id,
            )
        )
        if related is not None:
            continue
        try:
            async with session.begin_nested():
                out = await customers.create_customer_invitation(
                    session,
                    settings,
                    reseller,
                    CustomerInvitationCreate(email=org.admin_email),
                    provider_id,
                )
                invitation = await session.get_one(Invitation, out.id)
                token = invitations.invite_token(settings, invitation.token_nonce)
                customer = await _principal(session, admin)
                await invitations.accept(session, settings, customer, token, consent=True)
        except AppError as exc:
            report.notes.append(f"{org.display_name} not connected: {exc.detail}")
            continue
        report.created.append(
            f"{org.display_name} accepted "
            + ("Fabrikam and Contoso (two-tier)" if provider_id else "Fabrikam")
        )


@dataclass(frozen=True)
class DemoOffer:
    sku: str
    name: str
    billing_cycle: str
    term: str
    # (country, currency, unit price): Taiwan first, where the demo tenants are.
    prices: tuple[tuple[str, str, str], ...]
    cancellation_window_days: int = 7


@dataclass(frozen=True)
class DemoProduct:
    name: str
    description: str
    skus: tuple[tuple[str, str], ...]  # (name, unit)
    offers: tuple[DemoOffer, ...]


DEMO_CATALOG = (
    DemoProduct(
        "Contoso 365",
        "Mail, documents and meetings for businesses.",
        (("Business Standard", "seat"), ("Business Premium", "seat")),
        (
            DemoOffer(
                "Business Standard",
                "Business Standard (annual, billed monthly)",
                "monthly",
                "P1Y",
                (
                    ("TW", "TWD", "375.50"),
                    ("US", "USD", "12.50"),
                    ("JP", "JPY", "1874"),
                    ("DE", "EUR", "11.70"),
                    ("GB", "GBP", "10.30"),
                ),
            ),
            DemoOffer(
                "Business Premium",
                "Business Premium (annual, billed monthly)",
                "monthly",
                "P1Y",
                (
                    ("TW", "TWD", "660"),
                    ("US", "USD", "22.00"),
                    ("JP", "JPY", "3298"),
                    ("DE", "EUR", "20.60"),
                ),
            ),
        ),
    ),
    DemoProduct(
        "Contoso Project",
        "Plans, schedules and resources for project teams.",
        (("Plan 3", "user"),),
        (
            DemoOffer(
                "Plan 3",
                "Project Plan 3 (monthly)",
                "monthly",
                "P1M",
                (("TW", "TWD", "930"), ("US", "USD", "30.00"), ("SG", "SGD", "40.50")),
                cancellation_window_days=3,
            ),
        ),
    ),
    DemoProduct(
        "Contoso Defender",
        "Endpoint protection for the devices of an organization.",
        (("Endpoint P1", "device"),),
        (
            DemoOffer(
                "Endpoint P1",
                "Defender for Endpoint P1 (annual, billed annually)",
                "annual",
                "P1Y",
                (("TW", "TWD", "1080"), ("US", "USD", "36.00"), ("GB", "GBP", "29.00")),
            ),
        ),
    ),
)

NORTHWIND_USERS = (
    ("li.yuting@northwind.example", "Li Yu-ting"),
    ("chang.chihhao@northwind.example", "Chang Chih-hao"),
    ("tsai.peishan@northwind.example", "Tsai Pei-shan"),
    ("liu.chiawei@northwind.example", "Liu Chia-wei"),
)
# What Contoso ordered for Northwind (Fabrikam of record), and who holds a license.
NORTHWIND_ORDER = (("Business Standard", 25), ("Business Premium", 2))
NORTHWIND_LICENSES = {
    "Business Standard": (
        "admin@northwind.example",
        "li.yuting@northwind.example",
        "chang.chihhao@northwind.example",
    ),
    "Business Premium": ("admin@northwind.example",),
}


async def ensure_catalog(session: AsyncSession, operator: Principal, report: SeedReport) -> None:
    """The demo products and offers; a product already there (by name) is left as it is."""
    for demo in DEMO_CATALOG:
        if await session.scalar(select(Product.id).where(Product.name == demo.name)):
            continue
        product = await catalog.create_product(
            session,
            operator,
            ProductCreate.model_validate(
                {
                    "name": demo.name,
                    "description": demo.description,
                    "skus": [{"name": n, "unit": u} for n, u in demo.skus],
                }
            ),
        )
        skus = {s.name: s.id for s in product.skus}
        for offer in demo.offers:
            await catalog.create_offer(
                session,
                operator,
                OfferCreate.model_validate(
                    {
                        "sku_id": skus[offer.sku],
                        "name": offer.name,
                        "billing_cycle": offer.billing_cycle,
                        "term": offer.term,
                        "cancellation_window_days": offer.cancellation_window_days,
                        "prices": [
                            {"country": c, "currency": cur, "unit_price": price}
                            for c, cur, price in offer.prices
                        ],
                    }
                ),
            )
        report.created.append(f"catalog product {demo.name}")


async def _demo_offer(session: AsyncSession, sku_name: str) -> tuple[Offer, Sku] | None:
    offer_name = next(o.name for p in DEMO_CATALOG for o in p.offers if o.sku == sku_name)
    row = (
        await session.execute(
            select(Offer, Sku).join(Sku, Sku.id == Offer.sku_id).where(Offer.name == offer_name)
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


async def ensure_subscriptions(
    session: AsyncSession, settings: Settings, report: SeedReport
) -> None:
    """Northwind's users, and (once) Contoso's order for it with Fabrikam of record, with
    some of the seats assigned by Fabrikam."""
    contoso, fabrikam, northwind, _wide_world = DEMO_ORGS
    provider_admin = await _partner_admin(session, contoso)
    reseller_admin = await _partner_admin(session, fabrikam)
    customer_admin = await session.scalar(
        select(User)
        .join(Tenant, Tenant.id == User.tenant_id)
        .where(User.email == northwind.admin_email, Tenant.domain == northwind.domain)
    )
    if provider_admin is None or reseller_admin is None or customer_admin is None:
        return
    customer_id = customer_admin.tenant_id
    users = {customer_admin.email: customer_admin.id}
    for email, name in NORTHWIND_USERS:
        user = await session.scalar(select(User).where(User.email == email))
        if user is None:
            user = await directory.create_user(
                session,
                settings,
                await _principal(session, customer_admin),
                UserCreate(email=email, display_name=name, password=DEMO_PASSWORD),
            )
            report.created.append(f"Northwind user {email}")
        if user.tenant_id == customer_id:
            users[email] = user.id
    if await session.scalar(
        select(Subscription.id).where(Subscription.customer_tenant_id == customer_id).limit(1)
    ):
        return
    provider = await _principal(session, provider_admin)
    reseller = await _principal(session, reseller_admin)
    lines = []
    skus: dict[str, Sku] = {}
    for sku_name, quantity in NORTHWIND_ORDER:
        found = await _demo_offer(session, sku_name)
        if found is None:
            return  # the catalog was changed by hand: left as it is
        offer, skus[sku_name] = found
        lines.append(
            {
                "offer_id": offer.id,
                "quantity": quantity,
                "partner_id_on_record": reseller.partner_id,
            }
        )
    try:
        async with session.begin_nested():
            await commerce.create_order(
                session,
                provider,
                customer_id,
                OrderCreate.model_validate({"line_items": lines, "attestation_accepted": True}),
            )
            for sku_name, holders in NORTHWIND_LICENSES.items():
                for email in holders:
                    if email in users:
                        await licenses.update_user_licenses(
                            session,
                            reseller,
                            customer_id,
                            users[email],
                            LicenseUpdate(add=[skus[sku_name].id]),
                        )
    except AppError as exc:
        report.notes.append(f"Northwind's subscriptions not added: {exc.detail}")
        return
    report.created.append(
        "Northwind's subscriptions (ordered by Contoso, Fabrikam of record) and licenses"
    )


async def _operator(session: AsyncSession, report: SeedReport) -> User:
    report.sign_ins.append((OPERATOR_EMAIL, "operator"))
    user = await session.scalar(select(User).where(User.email == OPERATOR_EMAIL))
    if user is None:
        user = await create_operator(
            session, email=OPERATOR_EMAIL, password=DEMO_PASSWORD, name="Olivia Operator"
        )
        report.created.append("operator")
    return user


async def seed(db: Database, settings: Settings) -> SeedReport:
    report = SeedReport()
    async with db.write_sessions() as session, session.begin():
        operator = await _principal(session, await _operator(session, report))
        for org in DEMO_ORGS:
            await ensure_org(session, settings, org, report)
        for org in DEMO_ORGS:
            if operator.is_operator:
                await ensure_partner(session, settings, org, operator, report)
        await ensure_channel(session, settings, report)
        await ensure_customers(session, settings, report)
        if operator.is_operator:
            await ensure_catalog(session, operator, report)
        await ensure_subscriptions(session, settings, report)
        for demo in DEMO_MEMBERSHIPS:
            registered = await ensure_membership(session, demo, report)
            if demo is NEWCOMER_MEMBERSHIP and registered is not None:
                report.newcomer = (demo.username, registered.partner_id, registered.legal_name)
    return report


async def is_empty(db: Database) -> bool:
    async with db.read_sessions() as session:
        count = await session.scalar(select(func.count()).select_from(Tenant))
    return not count
