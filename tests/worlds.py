"""A world with every kind of object, built through the services (not HTTP), for the route
walker: two provider → reseller → customer chains, neighbours of the first chain, and
principals signed in to use it.

Chain 1 is the victim: provider P1 linked with reseller R1, customer C1 two-tier with both
(with an order, subscriptions, a license, grants and an extension request), a user C1.member
without admin roles, an R1 helpdesk agent, pending invitations of each kind (P1's addressed
to R4, a reseller that has not answered), a webhook with a delivery in each tenant, audit
records. Chain 2 (P2 → R2 → C2) is built the same way, so
the walker can send a foreign principal's own ids next to the victim's. Neighbours share
one side with chain 1: P3 is also linked with R1 and C3 is a two-tier customer of R1 and
P3; R3 is also linked with P1. A stranger tenant has no partner account; E1 and E2 are
enrollments waiting for the operator and for their email confirmation.

Every name, email and id a tenant owns is recorded under a group (``"C1.users"``...), so a
response can be searched for anything its reader should not see.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from twotier.access import service as access
from twotier.access.models import DelegatedAccessGrant
from twotier.channel import service as channel
from twotier.channel.schemas import ResellerInvitationCreate
from twotier.commerce import catalog, licenses
from twotier.commerce import service as commerce
from twotier.commerce.schemas import LicenseUpdate, OfferCreate, OrderCreate, ProductCreate
from twotier.config import Settings
from twotier.customers import service as customers
from twotier.customers.schemas import CustomerInvitationCreate
from twotier.directory import service as directory
from twotier.directory.auth import principal_for_user
from twotier.directory.models import TokenKind, User
from twotier.directory.principal import Principal
from twotier.directory.schemas import AdminIn, PartnerRolesIn, TenantCreate, UserCreate
from twotier.enrollment import service as enrollments
from twotier.enrollment.models import Enrollment
from twotier.enrollment.schemas import EnrollmentCreate
from twotier.invitations.models import Invitation
from twotier.kit.email import EMAIL
from twotier.kit.outbox import PENDING, OutboxMessage
from twotier.membership import service as membership
from twotier.membership.schemas import MembershipCreate, OrganizationIn
from twotier.operator.service import create_operator
from twotier.partners import service as partners
from twotier.webhooks import service as webhooks
from twotier.webhooks.schemas import WebhookCreate

PASSWORD = "walker-pass-2026"
CLIENT = "world-builder"
HOOK_HOST = "https://93.184.215.14"  # a public address: no DNS lookup, no SSRF refusal
TOKEN_TTL = 8 * 3600
_LINK = re.compile(r"/enroll/verify\?token=([A-Za-z0-9_\-]+)")


@dataclass(frozen=True)
class Org:
    """How a tenant is named: every string distinct from every other tenant's."""

    key: str  # "P1": the group prefix and the label
    word: str  # the distinctive word in its names
    partner_id: str = ""

    @property
    def domain(self) -> str:
        return f"{self.word.lower()}-{self.key.lower()}.example"

    @property
    def tenant_name(self) -> str:
        return f"{self.word} Holdings"

    @property
    def company(self) -> str:
        return f"{self.word} Channel Ltd"

    def email(self, local: str) -> str:
        return f"{local}@{self.domain}"


@dataclass
class Actor:
    """A signed-in user: an API bearer token and a portal session."""

    name: str
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    token: str
    session: str


@dataclass
class World:
    # label ("C1.member", "R1.account"...) → the id or token the API takes for it
    ids: dict[str, str] = field(default_factory=dict)
    # group ("C1.users"...) → the strings that name or identify the group's objects
    groups: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    actors: dict[str, Actor] = field(default_factory=dict)

    def add(self, group: str, *texts: object) -> None:
        self.groups[group].update(str(t) for t in texts if t not in (None, ""))

    def name(self, label: str, group: str, value: object) -> str:
        """Record an id under ``label`` (and as a string of ``group``)."""
        self.ids[label] = str(value)
        self.add(group, value)
        return str(value)


class Builder:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.s = session
        self.settings = settings
        self.world = World()
        self.operator: Principal | None = None
        self.offer_id: uuid.UUID | None = None
        self.sku_id: uuid.UUID | None = None
        self.orgs: dict[str, Org] = {}

    async def principal(self, user_id: uuid.UUID) -> Principal:
        await self.s.flush()
        return await principal_for_user(self.s, user_id)

    async def sign_in(self, name: str, user_id: uuid.UUID, tenant_id: uuid.UUID) -> None:
        token = await directory.issue_token(self.s, user_id, TokenKind.api, TOKEN_TTL)
        cookie = await directory.issue_token(self.s, user_id, TokenKind.session, TOKEN_TTL)
        self.world.actors[name] = Actor(name, user_id, tenant_id, token, cookie)

    # Building blocks.

    async def setup_operator(self) -> None:
        user = await create_operator(
            self.s, email="ops@walker-operator.example", password=PASSWORD, name="Olga Ops"
        )
        self.operator = await self.principal(user.id)
        await self.sign_in("operator", user.id, user.tenant_id)
        product = await catalog.create_product(
            self.s,
            self.operator,
            ProductCreate.model_validate(
                {"name": "Walker 365", "skus": [{"name": "Walker Standard", "unit": "seat"}]}
            ),
        )
        self.sku_id = product.skus[0].id
        offer = await catalog.create_offer(
            self.s,
            self.operator,
            OfferCreate.model_validate(
                {
                    "sku_id": self.sku_id,
                    "name": "Walker Standard (annual)",
                    "billing_cycle": "monthly",
                    "term": "P1Y",
                    "prices": [{"country": "TW", "currency": "TWD", "unit_price": "375.50"}],
                }
            ),
        )
        self.offer_id = offer.id
        # The catalog is shared by every partner: its ids are nobody's secret.
        self.world.ids["catalog.offer"] = str(offer.id)
        self.world.ids["catalog.sku"] = str(self.sku_id)

    async def tenant(self, org: Org, admin_name: str) -> User:
        w = self.world
        self.orgs[org.key] = org
        tenant, admin = await directory.create_tenant(
            self.s,
            self.settings,
            TenantCreate(
                display_name=org.tenant_name,
                domain=org.domain,
                country="TW",
                admin=AdminIn(email=org.email("admin"), display_name=admin_name, password=PASSWORD),
            ),
        )
        w.name(org.key, f"{org.key}.tenant", tenant.id)
        w.add(f"{org.key}.tenant", tenant.display_name, tenant.domain)
        for group in (f"{org.key}.users", f"{org.key}.user.admin"):
            w.add(group, admin.id, admin.email, admin.display_name)
        # Who acted is told to the audience of an event (its actor), by id only.
        w.add(f"{org.key}.actor.admin", admin.id)
        w.ids[f"{org.key}.admin"] = str(admin.id)
        return admin

    async def user(
        self, org: Org, admin: User, local: str, name: str, partner_roles: tuple[str, ...] = ()
    ) -> User:
        user = await directory.create_user(
            self.s,
            self.settings,
            await self.principal(admin.id),
            UserCreate(email=org.email(local), display_name=name, password=PASSWORD),
        )
        if partner_roles:
            await directory.set_partner_roles(
                self.s,
                await self.principal(admin.id),
                user.id,
                PartnerRolesIn.model_validate({"partner_roles": list(partner_roles)}),
            )
        for group in (f"{org.key}.users", f"{org.key}.user.{local}"):
            self.world.add(group, user.id, user.email, user.display_name)
        self.world.ids[f"{org.key}.{local}"] = str(user.id)
        return user

    async def _verification_token(self, to: str) -> str:
        await self.s.flush()
        messages = await self.s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == EMAIL, OutboxMessage.status == PENDING)
            .order_by(OutboxMessage.created_at.desc())
        )
        for message in messages:
            found = _LINK.search(str(message.payload.get("body", "")))
            if message.payload.get("to") == to and found:
                return found.group(1)
        raise LookupError(f"no confirmation email to {to}")

    async def enroll(self, org: Org, admin: User, program: str, *, until: str) -> Enrollment:
        """Enroll ``org`` as its admin would; ``until`` "approved", "in_review" or "emailed"."""
        assert self.operator is not None
        w = self.world
        private = f"{org.key}.private"
        username = f"{org.word.lower()}-member"
        await membership.create_membership(
            self.s,
            MembershipCreate(
                username=username,
                password=PASSWORD,
                organizations=[
                    OrganizationIn(legal_name=org.company, country="TW", partner_id=org.partner_id)
                ],
            ),
        )
        contact = org.email("contact")
        enrollment = await enrollments.create(
            self.s,
            self.settings,
            await self.principal(admin.id),
            EnrollmentCreate.model_validate(
                {
                    "program": program,
                    "membership": {
                        "username": username,
                        "password": PASSWORD,
                        "partner_id": org.partner_id,
                    },
                    "legal_profile": {
                        "company_name": org.company,
                        "address": {
                            "line1": f"1 {org.word} Road",
                            "city": "Taipei",
                            "postal_code": "110",
                            "country": "TW",
                        },
                    },
                    "primary_contact": {
                        "first_name": f"{org.word}ia",
                        "last_name": f"{org.word}son",
                        "email": contact,
                        "phone": "+886 2 2720 1234",
                    },
                    "support_profile": {
                        "email": org.email("support"),
                        "website": f"https://{org.domain}/support",
                    },
                }
            ),
            CLIENT,
        )
        w.name(f"{org.key}.enrollment", private, enrollment.id)
        w.add(private, username, contact, f"{org.word}ia", f"{org.word}son", f"1 {org.word} Road")
        # What a partner shows others: its account, partner ID, company and support profile.
        account = f"{org.key}.account"
        w.name(f"{org.key}.partner_id", account, org.partner_id)
        w.add(account, org.company, org.email("support"))
        w.add(account, f"https://{org.domain}/support")
        token = await self._verification_token(contact)
        if until == "emailed":
            w.ids[f"{org.key}.verification"] = token
            w.add(private, token)
            return enrollment
        await enrollments.verify_email(self.s, self.settings, token)
        if until == "approved":
            await enrollments.approve(self.s, self.settings, self.operator, enrollment.id)
            partner = await partners.partner_of_tenant(self.s, admin.tenant_id)
            assert partner is not None
            w.name(account, account, partner.id)
            await directory.set_partner_roles(
                self.s,
                await self.principal(admin.id),
                admin.id,
                PartnerRolesIn.model_validate({"partner_roles": ["admin_agent"]}),
            )
        return enrollment

    async def partner(self, org: Org, admin_name: str, program: str) -> User:
        admin = await self.tenant(org, admin_name)
        await self.enroll(org, admin, program, until="approved")
        await self.sign_in(org.key, admin.id, admin.tenant_id)
        return admin

    async def link(self, provider: Org, p_admin: User, reseller: Org, r_admin: User) -> None:
        sent = await channel.create_reseller_invitation(
            self.s,
            self.settings,
            await self.principal(p_admin.id),
            ResellerInvitationCreate(email=reseller.email("admin")),
        )
        invitation = await self.s.get_one(Invitation, sent.id)
        await channel.accept_reseller_invitation(
            self.s, self.settings, await self.principal(r_admin.id), invitation
        )
        assert sent.invite_url is not None
        # Both sides of a link know the invitation that made it.
        group = f"{provider.key}.link.{reseller.key}"
        self.world.add(group, sent.id, sent.invite_url.rsplit("/", 1)[1], sent.email)

    async def customer_of(
        self, customer: Org, c_admin: User, reseller: Org, r_admin: User, provider: Org | None
    ) -> None:
        provider_account = (
            uuid.UUID(self.world.ids[f"{provider.key}.account"]) if provider else None
        )
        sent = await customers.create_customer_invitation(
            self.s,
            self.settings,
            await self.principal(r_admin.id),
            CustomerInvitationCreate(email=customer.email("admin")),
            provider_account,
        )
        invitation = await self.s.get_one(Invitation, sent.id)
        await customers.accept_customer_invitation(
            self.s, self.settings, await self.principal(c_admin.id), invitation
        )
        assert sent.invite_url is not None
        # The reseller and the customer it invited both know the invitation.
        group = f"{reseller.key}.invite.{customer.key}"
        self.world.add(group, sent.id, sent.invite_url.rsplit("/", 1)[1], sent.email)

    async def webhook(self, org: Org, admin: User) -> None:
        w = self.world
        group = f"{org.key}.webhook"
        endpoint, secret = await webhooks.create(
            self.s,
            self.settings,
            await self.principal(admin.id),
            WebhookCreate(
                url=f"{HOOK_HOST}/hooks/{org.word.lower()}",
                events=["order_created"],
                description=f"{org.word} order feed",
            ),
        )
        w.name(group, group, endpoint.id)
        w.add(group, endpoint.url, endpoint.description, secret)
        delivery = await webhooks.send_test(self.s, await self.principal(admin.id), endpoint.id)
        w.name(f"{group}.delivery", group, delivery.id)

    async def grant_id(self, customer: Org, partner: Org) -> uuid.UUID:
        grant = await self.s.scalar(
            select(DelegatedAccessGrant.id).where(
                DelegatedAccessGrant.tenant_id == uuid.UUID(self.world.ids[customer.key]),
                DelegatedAccessGrant.partner_account_id
                == uuid.UUID(self.world.ids[f"{partner.key}.account"]),
            )
        )
        assert grant is not None
        return grant

    # The chains.

    async def chain(self, n: int, words: tuple[str, str, str, str]) -> tuple[User, User, User]:
        """Provider P<n> linked with reseller R<n>; customer C<n> two-tier with both."""
        w = self.world
        p, r, c = (
            Org(f"P{n}", words[0], f"73{n}0001"),
            Org(f"R{n}", words[1], f"73{n}0002"),
            Org(f"C{n}", words[2]),
        )
        p_admin = await self.partner(p, f"Pat {p.word}", "indirect_provider")
        r_admin = await self.partner(r, f"Rae {r.word}", "indirect_reseller")
        c_admin = await self.tenant(c, f"Cy {c.word}")
        await self.sign_in(c.key, c_admin.id, c_admin.tenant_id)
        await self.link(p, p_admin, r, r_admin)
        await self.customer_of(c, c_admin, r, r_admin, p)

        member = await self.user(c, c_admin, "member", f"Mo {c.word}")
        await self.sign_in(f"{c.key}.member", member.id, member.tenant_id)
        helpdesk = await self.user(r, r_admin, "helpdesk", f"Hal {r.word}", ("helpdesk_agent",))
        await self.sign_in(f"{r.key}.helpdesk", helpdesk.id, helpdesk.tenant_id)

        # The provider orders for the customer, the reseller of record assigns a seat.
        assert self.offer_id is not None
        assert self.sku_id is not None
        order = await commerce.create_order(
            self.s,
            await self.principal(p_admin.id),
            c_admin.tenant_id,
            OrderCreate.model_validate(
                {
                    "line_items": [
                        {
                            "offer_id": self.offer_id,
                            "quantity": 5,
                            "partner_id_on_record": r.partner_id,
                        }
                    ],
                    "attestation_accepted": True,
                }
            ),
        )
        w.name(f"{c.key}.order", f"{c.key}.commerce", order.id)
        w.name(f"{c.key}.subscription", f"{c.key}.commerce", order.subscriptions[0].id)
        await licenses.update_user_licenses(
            self.s,
            await self.principal(r_admin.id),
            c_admin.tenant_id,
            member.id,
            LicenseUpdate(add=[self.sku_id]),
        )

        # Grants: C's to R (with an extension request waiting), C's to P, R's to P (the link).
        c_to_r = await self.grant_id(c, r)
        w.name(f"{c.key}.grant.{r.key}", f"{c.key}.grants", c_to_r)
        w.name(f"{c.key}.grant.{p.key}", f"{c.key}.grants", await self.grant_id(c, p))
        w.name(f"{r.key}.grant.{p.key}", f"{r.key}.grants", await self.grant_id(r, p))
        await access.request_extension(
            self.s, self.settings, await self.principal(r_admin.id), c_admin.tenant_id, c_to_r, 90
        )

        # Pending invitations of each kind; the provider's is addressed to a reseller that
        # has not answered yet (R<n+3>), so no one else may accept it.
        addressee = Org(f"R{n + 3}", words[3], f"73{n}0004")
        await self.partner(addressee, f"Rae {addressee.word}", "indirect_reseller")
        addressed = await channel.create_reseller_invitation(
            self.s,
            self.settings,
            await self.principal(p_admin.id),
            ResellerInvitationCreate(
                email=addressee.email("partners"),
                message=f"Join {p.word}",
                partner_id=addressee.partner_id,
            ),
        )
        w.name(f"{p.key}.invitation", f"{p.key}.invitations", addressed.id)
        assert addressed.invite_url is not None
        w.name(f"{p.key}.token", f"{p.key}.invitations", addressed.invite_url.rsplit("/", 1)[1])
        w.add(f"{p.key}.invitations", addressed.message)
        reseller = await self.principal(r_admin.id)
        for kind, provider in (
            ("two_tier", uuid.UUID(w.ids[f"{p.key}.account"])),
            ("direct", None),
        ):
            sent = await customers.create_customer_invitation(
                self.s,
                self.settings,
                reseller,
                CustomerInvitationCreate(
                    email=f"prospect-{kind.replace('_', '-')}@{r.word.lower()}-leads.example",
                    message=f"{r.word} {kind} offer",
                ),
                provider,
            )
            w.name(f"{r.key}.invitation.{kind}", f"{r.key}.invitations", sent.id)
            assert sent.invite_url is not None
            w.name(
                f"{r.key}.token.{kind}", f"{r.key}.invitations", sent.invite_url.rsplit("/", 1)[1]
            )
            w.add(f"{r.key}.invitations", sent.email, sent.message)

        for org, admin in ((p, p_admin), (r, r_admin), (c, c_admin)):
            await self.webhook(org, admin)
        return p_admin, r_admin, c_admin

    async def neighbours(self, p1_admin: User, r1_admin: User) -> None:
        """P3 also linked with R1, C3 two-tier with R1 and P3; R3 also linked with P1."""
        p1, r1 = self.orgs["P1"], self.orgs["R1"]
        p3, r3, c3 = (
            Org("P3", "Tansy", "7330001"),
            Org("R3", "Umber", "7330002"),
            Org("C3", "Vireo"),
        )
        p3_admin = await self.partner(p3, "Pat Tansy", "indirect_provider")
        r3_admin = await self.partner(r3, "Rae Umber", "indirect_reseller")
        c3_admin = await self.tenant(c3, "Cy Vireo")
        await self.sign_in(c3.key, c3_admin.id, c3_admin.tenant_id)
        await self.link(p3, p3_admin, r1, r1_admin)
        await self.link(p1, p1_admin, r3, r3_admin)
        await self.customer_of(c3, c3_admin, r1, r1_admin, p3)

    async def others(self) -> None:
        """A stranger tenant, and enrollments waiting for the operator and for their email."""
        stranger = Org("S", "Xystus")
        admin = await self.tenant(stranger, "Sy Xystus")
        await self.sign_in("stranger", admin.id, admin.tenant_id)
        for org, until in (
            (Org("E1", "Ember", "7340001"), "in_review"),
            (Org("E2", "Elmwood", "7340002"), "emailed"),
        ):
            e_admin = await self.tenant(org, f"Ed {org.word}")
            await self.enroll(org, e_admin, "indirect_reseller", until=until)


async def build_world(session: AsyncSession, settings: Settings) -> World:
    builder = Builder(session, settings)
    await builder.setup_operator()
    p1_admin, r1_admin, _c1 = await builder.chain(1, ("Vesper", "Wrenfield", "Yarrow", "Nettle"))
    await builder.chain(2, ("Quillon", "Rookery", "Sablewood", "Larch"))
    await builder.neighbours(p1_admin, r1_admin)
    await builder.others()
    await session.flush()
    return builder.world
