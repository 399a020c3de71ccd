"""Authorization over every route, walked automatically.

Every operation of the live OpenAPI schema, and every portal page the app registers outside
it, is walked with the ids of a victim chain (tests/worlds.py) by every foreign principal:
two providers, two resellers and two customers (another chain's, and a neighbour sharing one
side with the victim), a stranger tenant, a customer user without admin roles, a partner
helpdesk agent, and no one signed in. An answer fails the walk when

- it is a success (2xx, or a portal redirect anywhere but sign-in) that ``ALLOWED`` does not
  list; refusals are 401/403/404 only (a 409 or 422 means the request got past the check);
- it names anything of a tenant its reader does not know (``KNOWS``): ids, names, emails;
- for a principal with nothing to do with the victim, it differs from the answer to the same
  request with made-up ids (existence must not show);
- a principal of the other chain, sending its own ids with one of the victim's (a child id,
  a body reference), gets anything but 403/404/422.

Each operation must also succeed for one of the victim's own principals (the positive
control: the request is well-formed and reaches the check). Operations that take no id are
walked too, for leaks only. An id the walker cannot map, or a body it has no example for,
fails the operation's test: a new route cannot slip past.
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.conftest import RolledBackDatabase
from tests.worlds import HOOK_HOST, PASSWORD, World, build_world
from twotier.app import create_app
from twotier.config import Settings
from twotier.directory.auth import CSRF_COOKIE, CSRF_PURPOSE, SESSION_COOKIE
from twotier.directory.models import Tenant
from twotier.kit.deps import get_session
from twotier.kit.errors import NotFound
from twotier.kit.security import sign

# --- What the walker knows ------------------------------------------------------------------

# Path, query and body ids → the world's objects (labels, see tests/worlds.py) each is walked
# with. Chain-1 labels have a chain-2 twin (P1 → P2...) for the "own parent, victim child" walk.
IDS: dict[str, list[str]] = {
    "customer_id": ["C1"],
    # A user of the customer, and one of a partner (never reachable through a customer id).
    "user_id": ["C1.member", "R1.admin"],
    "subscription_id": ["C1.subscription"],
    "order_id": ["C1.order"],
    # The customer's grant to its reseller (an extension waiting), the reseller's to its
    # provider (made by their link).
    "grant_id": ["C1.grant.R1", "R1.grant.P1"],
    "provider_id": ["P1.account"],
    "reseller_id": ["R1.account"],
    "partner_account_id": ["R1.account", "P1.account"],
    "invitation_id": ["P1.invitation", "R1.invitation.two_tier"],
    # A reseller invitation addressed to R4's partner ID: no one else may accept it.
    "token": ["P1.token"],
    "webhook_id": ["R1.webhook", "C1.webhook"],
    "delivery_id": ["R1.webhook.delivery", "C1.webhook.delivery"],
    "enrollment_id": ["E1.enrollment"],
    "offer_id": ["catalog.offer"],
    "sku_id": ["catalog.sku"],
    # Portal link pages: the other side's partner account.
    "other_id": ["R1.account", "P1.account"],
}
# An id walked only with objects under the parent id it is walked with.
PAIRED = {"delivery_id": "webhook_id"}
# Path words that are not ids.
LITERALS = {"decision": ["approve"]}


@dataclass(frozen=True)
class NotOwned:
    """A body field that looks like an id but names nothing the caller must be allowed to
    reach; the example's value is sent as it is."""

    why: str


# Body fields that hold ids ("Schema:path" first, then "path") → labels, or NotOwned.
BODY_IDS: dict[str, list[str] | NotOwned] = {
    "line_items[].offer_id": ["catalog.offer"],
    "line_items[].partner_id_on_record": ["R1.partner_id"],
    "sku_id": ["catalog.sku"],
    "add[]": ["catalog.sku"],
    "remove[]": ["catalog.sku"],
    "VerifyEmailIn:token": ["E2.verification"],
    "ResellerInvitationCreate:partner_id": NotOwned(
        "who may accept: a provider may address an invitation to any partner ID"
    ),
    "MembershipCreate:organizations[].partner_id": NotOwned(
        "a new registry entry the operator assigns"
    ),
    "EnrollmentCreate:membership.partner_id": NotOwned(
        "proven by the membership sign-in in the same body"
    ),
}
# Labels whose objects are shared by everyone (the catalog): never a secret, no twin.
SHARED = ("catalog.",)

NEW = "new-user@walker-new.example"
# A valid body per request schema (or per operation), so a request reaches the
# authorization check instead of stopping at 422. Id fields are filled in by the walker.
BODIES: dict[str, dict[str, Any]] = {
    "PasswordChange": {
        "current_password": "not-the-password",
        "new_password": "a new passphrase for the walker 2026",
    },
    "TenantCreate": {
        "display_name": "Walker New Org",
        "domain": "walker-new.example",
        "country": "TW",
        "admin": {"email": NEW, "display_name": "New Admin", "password": PASSWORD},
    },
    "TokenRequest": {"email": "admin@yarrow-c1.example", "password": "not-the-password"},
    "UserCreate": {"email": NEW, "display_name": "New User", "password": PASSWORD},
    "UserUpdate": {"display_name": "Renamed User"},
    "MembershipCreate": {
        "username": "walker-new-member",
        "password": PASSWORD,
        "organizations": [{"legal_name": "Walker New Org", "country": "TW", "partner_id": None}],
    },
    "MembershipCredentials": {"username": "walker-nobody", "password": "not-the-password"},
    "EnrollmentCreate": {
        "program": "indirect_reseller",
        "membership": {"username": "walker-nobody", "password": "x", "partner_id": "7399999"},
        "legal_profile": {
            "company_name": "Walker New Org",
            "address": {"line1": "1 Road", "city": "Taipei", "postal_code": "110", "country": "TW"},
        },
        "primary_contact": {
            "first_name": "New",
            "last_name": "Contact",
            "email": "contact@walker-new.example",
            "phone": "+886 2 2720 1234",
        },
        "support_profile": {"email": "support@walker-new.example"},
    },
    "VerifyEmailIn": {"token": "?"},
    "RejectIn": {"reason": "Not a partner we can approve."},
    "SupportProfile": {"email": "help@walker-new.example"},
    "LegalProfile": {
        "company_name": "Renamed Ltd",
        "address": {"line1": "2 Road", "city": "Taipei", "postal_code": "110", "country": "TW"},
    },
    "PartnerRolesIn": {"partner_roles": ["sales_agent"]},
    "ResellerInvitationCreate": {"email": "invitee@walker-new.example", "partner_id": "7399999"},
    "SendIn": {},
    "AcceptIn": {"authorize": True},
    "CustomerInvitationCreate": {"email": "prospect@walker-new.example"},
    "DropRolesIn": {"roles": ["helpdesk_admin"]},
    "ExtensionRequestIn": {"duration_days": 30},
    "ProductCreate": {"name": "Walker New Product", "skus": [{"name": "New SKU"}]},
    "OfferCreate": {
        "sku_id": "?",
        "name": "New offer",
        "billing_cycle": "monthly",
        "term": "P1M",
        "prices": [{"country": "TW", "currency": "TWD", "unit_price": "100"}],
    },
    "OrderCreate": {
        "line_items": [{"offer_id": "?", "quantity": 1, "partner_id_on_record": "?"}],
        "attestation_accepted": True,
    },
    "SubscriptionPatch": {"auto_renew": False},
    "LicenseUpdate": {"add": ["?"], "remove": []},
    "WebhookCreate": {"url": f"{HOOK_HOST}/hooks/new", "events": ["order_created"]},
    "WebhookUpdate": {"description": "Renamed feed"},
}
# Portal forms (keyed by operation; "@label" is that object's id); every other portal post
# sends its CSRF token only.
FORMS: dict[str, dict[str, str | list[str]]] = {
    "POST /account/users/{user_id}": {"display_name": "Renamed User"},
    "POST /invitations/{token}": {"authorize": "true"},
    "POST /customers/{customer_id}/users": {
        "email": NEW,
        "display_name": "New User",
        "password": PASSWORD,
    },
    "POST /customers/{customer_id}/grants/{grant_id}/drop-roles": {"drop_roles": "helpdesk_admin"},
    "POST /customers/{customer_id}/grants/{grant_id}/extend": {"duration_days": "30"},
    "POST /customers/{customer_id}/subscriptions/{subscription_id}": {
        "action": "auto_renew_off",
        "etag": "*",
    },
    "POST /customers/{customer_id}/orders": {
        "offer_id": "@catalog.offer",
        "quantity": "1",
        "partner_id_on_record": "@R1.partner_id",
        "attestation": "yes",
        "order_key": "walker-order",
    },
    "POST /customers/{customer_id}/licenses/{user_id}": {
        "action": "assign",
        "sku_id": "@catalog.sku",
    },
    "POST /subscriptions/licenses/{user_id}": {"action": "assign", "sku_id": "@catalog.sku"},
    "POST /operator/enrollments/{enrollment_id}/reject": {"reason": "Not a partner we approve."},
    "POST /webhooks/{webhook_id}/status": {"enabled": "false"},
    "POST /indirect-providers/{provider_id}/invite-customer": {
        "email": "prospect@walker-new.example",
        "access.roles": ["helpdesk_admin"],
        "access.duration_days": "90",
    },
}
# Query parameters an operation requires that are not ids.
QUERY = {"country": "TW"}

# Operations anyone may call: no status rule, no leak rule (their answers are meant to be seen).
PUBLIC = {
    "GET /api/v1/providers": "the official provider list is public",
    "GET /api/v1/invitations/{token}": "anyone holding the link sees what it asks for",
    "POST /api/v1/enrollments/verify-email": "holding the emailed link is the authorization",
    "GET /api/v1/dev/mailbox": "the development mailbox (production refuses its backend)",
    "GET /providers": "the official provider list is public",
    "GET /invitations/{token}": "anyone holding the link sees what it asks for",
    "GET /enroll/verify": "holding the emailed link is the authorization",
    "GET /dev/mailbox": "the development mailbox (production refuses its backend)",
}
# A holder of a token may see what the public view of that token shows.
CAPABILITY_VIEWS = {"token": "/api/v1/invitations/{token}"}


@dataclass(frozen=True)
class Allow:
    why: str
    when: dict[str, str] = field(default_factory=dict)  # param → the label it must be


# Successes a foreign principal gets with the victim's ids: (principal, operation) → when
# and why. Each must succeed (the list stays exact); everything else must be refused.
ALLOWED: dict[tuple[str, str], list[Allow]] = {}


def _allow(principal: str, ops: Iterable[str], why: str, **when: str) -> None:
    for op in ops:
        ALLOWED.setdefault((principal, op), []).append(Allow(why, when))


# R1's helpdesk agent works for R1's customers: reads their records and resets their users'
# passwords under the customer's helpdesk-admin grant.
_allow(
    "R1.helpdesk",
    [
        "GET /api/v1/customers/{customer_id}",
        "GET /api/v1/customers/{customer_id}/delegated-access",
        "GET /api/v1/customers/{customer_id}/users",
        "GET /api/v1/customers/{customer_id}/orders",
        "GET /api/v1/customers/{customer_id}/orders/{order_id}",
        "GET /api/v1/customers/{customer_id}/subscriptions",
        "GET /api/v1/customers/{customer_id}/subscriptions/{subscription_id}",
        "GET /api/v1/customers/{customer_id}/licenses",
        "GET /customers/{customer_id}",
    ],
    "a helpdesk agent reads its partner's customers",
)
_allow(
    "R1.helpdesk",
    [
        "GET /api/v1/customers/{customer_id}/users/{user_id}/licenses",
        "POST /api/v1/customers/{customer_id}/users/{user_id}/password-reset",
        "POST /customers/{customer_id}/users/{user_id}/reset-password",
    ],
    "a helpdesk task on a user of its partner's customer",
    user_id="C1.member",
)
_allow(
    "R1.helpdesk",
    ["GET /api/v1/indirect-providers/{provider_id}/customers"],
    "the customers its reseller shares with its provider",
)
_allow(
    "R1.helpdesk",
    ["GET /indirect-providers/{other_id}/customers"],
    "the customers its reseller shares with its provider",
    other_id="P1.account",
)
# Neighbours: P3 is linked with R1 too, R3 with P1 too, C3 is R1's customer too.
_allow(
    "P3",
    [
        "GET /api/v1/indirect-resellers/{reseller_id}/customers",
        "DELETE /api/v1/indirect-resellers/{reseller_id}",
    ],
    "P3's own link with R1 (the list must show only the customers they share)",
)
_allow(
    "P3",
    ["GET /indirect-resellers/{other_id}/customers", "POST /indirect-resellers/{other_id}/end"],
    "P3's own link with R1",
    other_id="R1.account",
)
_allow(
    "R3",
    [
        "GET /api/v1/indirect-providers/{provider_id}/customers",
        "DELETE /api/v1/indirect-providers/{provider_id}",
        "POST /api/v1/indirect-providers/{provider_id}/customer-invitations",
        "GET /indirect-providers/{provider_id}/invite-customer",
        "POST /indirect-providers/{provider_id}/invite-customer",
    ],
    "R3's own link with P1",
)
_allow(
    "R3",
    ["GET /indirect-providers/{other_id}/customers", "POST /indirect-providers/{other_id}/end"],
    "R3's own link with P1",
    other_id="P1.account",
)
_allow(
    "C3",
    [
        "DELETE /api/v1/my/partners/{partner_account_id}",
        "POST /partners/{partner_account_id}/remove",
    ],
    "C3 ends its own relationship with R1",
    partner_account_id="R1.account",
)

# The principals walked, and the groups of strings (tests/worlds.py) each may see. A group
# not listed is the victim's to keep.
PRINCIPALS = ("P2", "R2", "C2", "P3", "R3", "C3", "stranger", "C1.member", "R1.helpdesk", None)
KNOWS: dict[str | None, set[str]] = {
    # Another chain, a stranger, no one: nothing of the victim's.
    "P2": set(),
    "R2": set(),
    "C2": set(),
    "stranger": {"S.*"},
    None: set(),
    # Neighbours: their own tenant, their customers, the partner profile of the partner
    # they are linked with, and the invitation that linked them.
    "P3": {"P3.*", "C3.*", "R1.account"},
    "R3": {"R3.*", "P1.account", "P1.link.R3"},
    "C3": {"C3.*", "R1.account", "P3.account", "R1.invite.C3"},
    # A customer user without admin roles: its tenant's name and itself.
    "C1.member": {"C1.tenant", "C1.user.member"},
    # R1's helpdesk agent: its partner (but not its webhooks), the providers it is linked
    # with, and its partner's customers (C1, C3).
    "R1.helpdesk": {
        "R1.tenant",
        "R1.users",
        "R1.user.*",
        "R1.private",
        "R1.account",
        "R1.invitations",
        "R1.invite.*",
        "R1.grants",
        "P1.link.R1",
        "P3.link.R1",
        "P1.account",
        "P3.account",
        "C1.tenant",
        "C1.users",
        "C1.user.*",
        "C1.commerce",
        "C1.grants",
        "C3.*",
        # An order names the provider's user who placed it, as its order_created event does
        # to the same audience (the customer, the provider, the resellers of record).
        "P1.actor.admin",
    },
}
# Tenants whose strings are secrets (chain 2 is the foreign principals' own world).
VICTIM_TENANTS = ("P1", "R1", "C1", "P3", "R3", "C3", "R4", "S", "E1", "E2")
# Principals with nothing to do with the victim chain: their answers must not depend on
# whether the victim's ids exist.
OUTSIDERS = ("P2", "R2", "C2", "stranger", None)
# The victim's own principals: one of them must succeed (the positive control).
OWNERS = ("P1", "R1", "C1", "R4", "operator")
# Principals of chain 2, who also send their own ids next to one of the victim's.
TWINS = ("P2", "R2", "C2")

API_REFUSALS = {401, 403, 404}
MIXED_REFUSALS = {403, 404, 422}
PORTAL_REFUSALS = {403, 404}


# --- Operations -----------------------------------------------------------------------------

_ID_NAME = re.compile(r"(^|_)(id|ids)(_|$)|^token$")
_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")
SETTINGS = Settings(env="test", database_url="sqlite+aiosqlite://", _env_file=None)


def is_id(name: str) -> bool:
    return bool(_ID_NAME.search(name.rsplit(".", 1)[-1].removesuffix("[]")))


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    api: bool
    path_params: tuple[str, ...] = ()
    query_ids: tuple[str, ...] = ()
    query_required: tuple[str, ...] = ()
    schema: str | None = None  # the request body's schema name
    body_ids: tuple[str, ...] = ()  # paths of id fields in the body ("line_items[].offer_id")
    has_body: bool = False
    unsupported: str | None = None  # why the walker cannot send this body

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def takes_ids(self) -> bool:
        return bool(self.path_params or self.query_ids or self.body_ids)


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def body_id_paths(schema: dict[str, Any], components: dict[str, Any], path: str = "") -> set[str]:
    """Paths of the fields that hold ids: named like one, or uuid-formatted."""
    schema = _resolve(schema, components)
    found: set[str] = set()
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            found |= body_id_paths(sub, components, path)
    if schema.get("type") == "array" and "items" in schema:
        found |= body_id_paths(schema["items"], components, f"{path}[]")
    for name, sub in schema.get("properties", {}).items():
        found |= body_id_paths(sub, components, f"{path}.{name}" if path else name)
    if path and (schema.get("format") == "uuid" or is_id(path)):
        found.add(path)
    return found


def api_operations(schema: dict[str, Any]) -> list[Operation]:
    components = schema.get("components", {}).get("schemas", {})
    out = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            params = op.get("parameters", [])
            query = [p for p in params if p["in"] == "query"]
            schema_name = unsupported = None
            ids: set[str] = set()
            content = op.get("requestBody", {}).get("content", {})
            if content:
                if "application/json" not in content:
                    unsupported = f"a {', '.join(content)} body"
                else:
                    body = content["application/json"]["schema"]
                    schema_name = body.get("$ref", "").rsplit("/", 1)[-1] or None
                    ids = body_id_paths(body, components)
            out.append(
                Operation(
                    method.upper(),
                    path,
                    api=True,
                    path_params=tuple(_PARAM.findall(path)),
                    query_ids=tuple(p["name"] for p in query if is_id(p["name"])),
                    query_required=tuple(
                        p["name"] for p in query if p.get("required") and not is_id(p["name"])
                    ),
                    schema=schema_name,
                    body_ids=tuple(sorted(ids)),
                    has_body=bool(content),
                    unsupported=unsupported,
                )
            )
    return out


def portal_operations(app: FastAPI) -> list[Operation]:
    """Routes outside the schema (the portal's pages and forms): those that take an id, and
    every page (a GET) for leaks."""
    out = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or route.include_in_schema:
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            query = route.dependant.query_params
            op = Operation(
                method,
                route.path,
                api=False,
                path_params=tuple(_PARAM.findall(route.path)),
                query_ids=tuple(q.name for q in query if is_id(q.name)),
                query_required=tuple(
                    q.name for q in query if q.field_info.is_required() and not is_id(q.name)
                ),
            )
            if op.takes_ids or (method == "GET" and not route.path.startswith("/api/")):
                out.append(op)
    return out


APP = create_app(SETTINGS)
OPERATIONS = api_operations(APP.openapi()) + portal_operations(APP)


# --- Plans: which values each request is sent with -------------------------------------------


@dataclass(frozen=True)
class Slot:
    name: str  # "customer_id", "query:sku_id", "body:line_items[].offer_id"
    labels: tuple[str, ...] | None  # None: not an owned reference (the example's value)
    literal: bool = False  # a path word, not an id

    @property
    def owned(self) -> bool:
        """Whether its objects belong to a tenant (not the shared catalog, not a word)."""
        return (
            self.labels is not None
            and not self.literal
            and not any(label.startswith(SHARED) for label in self.labels)
        )


def body_key(op: Operation, path: str) -> str | None:
    for key in (f"{op.schema}:{path}", path):
        if key in BODY_IDS:
            return key
    return None


def plan(op: Operation) -> tuple[list[Slot], list[str]]:
    """The slots an operation's ids fill, and what the walker cannot map."""
    slots, missing = [], []
    for name in (*op.path_params, *op.query_ids):
        prefix = "" if name in op.path_params else "query:"
        if name in LITERALS:
            slots.append(Slot(prefix + name, tuple(LITERALS[name]), literal=True))
        elif name in IDS:
            slots.append(Slot(prefix + name, tuple(IDS[name])))
        else:
            missing.append(f"the id parameter {name!r} has no entry in IDS")
    for path in op.body_ids:
        key = body_key(op, path)
        if key is None:
            missing.append(f"the body field {path!r} ({op.schema}) has no entry in BODY_IDS")
            continue
        target = BODY_IDS[key]
        slots.append(Slot(f"body:{path}", None if isinstance(target, NotOwned) else tuple(target)))
    if op.unsupported:
        missing.append(f"the walker cannot send {op.unsupported}")
    elif op.has_body and op.key not in BODIES and op.schema not in BODIES:
        missing.append(f"no example body for {op.schema or op.key} in BODIES")
    for name in op.query_required:
        if name not in QUERY:
            missing.append(f"the required query parameter {name!r} has no value in QUERY")
    return slots, missing


def combos(slots: list[Slot]) -> list[dict[str, str]]:
    """Every combination of the slots' labels, children only under their own parent."""
    owned = [s for s in slots if s.labels is not None]
    out = []
    for values in itertools.product(*(s.labels or () for s in owned)):
        combo = dict(zip((s.name for s in owned), values, strict=True))
        if all(
            combo[child].startswith(combo[parent])
            for child, parent in PAIRED.items()
            if child in combo and parent in combo
        ):
            out.append(combo)
    return out


def twin(label: str) -> str:
    """The chain-2 object that plays ``label``'s part (C1.grant.R1 → C2.grant.R2)."""
    return re.sub(r"(?<=[PRC])1\b", "2", label)


# --- The walk -------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    code: str | None
    text: str
    location: str

    @property
    def success(self) -> bool:
        return 200 <= self.status < 300 or (
            300 <= self.status < 400 and not self.location.startswith("/signin")
        )

    def __str__(self) -> str:
        return f"{self.status} {self.code or self.location or ''}".strip()


class Walker:
    def __init__(self, world: World, client: httpx.AsyncClient, app: FastAPI) -> None:
        self.world = world
        self.client = client
        self.app = app
        self.victims: dict[str, set[str]] = {
            group: texts
            for group, texts in world.groups.items()
            if group.split(".", 1)[0] in VICTIM_TENANTS
        }
        self._views: dict[str, set[str]] = {}

    def build(
        self, op: Operation, values: dict[str, str]
    ) -> tuple[str, dict[str, str], Any, dict[str, Any] | None]:
        """(url, query, json body, form) for ``values`` (slot name → the value to send)."""
        path = _PARAM.sub(lambda m: values[m.group(1)], op.path)
        query = {n: values[f"query:{n}"] for n in op.query_ids}
        query |= {n: QUERY[n] for n in op.query_required}
        body: Any = None
        form: dict[str, Any] | None = None
        if op.has_body:
            body = copy.deepcopy(BODIES.get(op.key, BODIES.get(op.schema or "", {})))
            for slot, value in values.items():
                if slot.startswith("body:"):
                    _put(body, slot.removeprefix("body:"), value)
        elif not op.api and op.method == "POST":
            form = {k: self._resolve_form(v) for k, v in FORMS.get(op.key, {}).items()}
        return path, query, body, form

    def _resolve_form(self, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list):
            return value
        return self.world.ids[value[1:]] if value.startswith("@") else value

    async def send(
        self, op: Operation, principal: str | None, values: dict[str, str]
    ) -> tuple[Answer, str]:
        """One request; what it changes is undone (``UndoneDatabase``)."""
        path, query, body, form = self.build(op, values)
        headers: dict[str, str] = {}
        actor = self.world.actors[principal] if principal else None
        if op.api:
            if actor:
                headers["Authorization"] = f"Bearer {actor.token}"
            if op.method in {"POST", "PUT", "PATCH", "DELETE"}:
                headers["Idempotency-Key"] = str(uuid.uuid4())
                headers["If-Match"] = "*"
        else:
            csrf = secrets.token_urlsafe(16)
            cookies = {CSRF_COOKIE: csrf} | ({SESSION_COOKIE: actor.session} if actor else {})
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
            if form is not None:
                form["csrf_token"] = sign(SETTINGS.secret_key, csrf, CSRF_PURPOSE)
        try:
            response = await self.client.request(
                op.method, path, params=query, json=body, data=form, headers=headers
            )
        finally:
            self.client.cookies.clear()
        code = None
        if "json" in response.headers.get("content-type", ""):
            parsed = response.json()
            code = parsed.get("code") if isinstance(parsed, dict) else None
        sent = f"{path}?{query}{body}{form}"
        location = response.headers.get("location", "")
        return Answer(response.status_code, code, response.text + location, location), sent

    async def capability_view(self, op: Operation, values: dict[str, str]) -> set[str]:
        """What the public view of the capabilities in ``values`` shows anyone."""
        shown: set[str] = set()
        for name, view in CAPABILITY_VIEWS.items():
            if name not in values:
                continue
            url = view.replace("{" + name + "}", values[name])
            if url not in self._views:
                text = (await self.client.get(url)).text
                self._views[url] = {s for t in self.victims.values() for s in t if s in text}
            shown |= self._views[url]
        return shown

    def leaks(self, principal: str | None, text: str, sent: str, shown: set[str]) -> list[str]:
        """The strings ``text`` shows that ``principal`` may not see."""
        known = set(shown)
        secret: dict[str, str] = {}
        for group, texts in self.victims.items():
            if any(fnmatch.fnmatchcase(group, g) for g in KNOWS[principal]):
                known |= texts
            else:
                secret |= dict.fromkeys(texts, group)
        known |= {s for s in secret if s in sent}  # what the caller sent it already knows
        lowered = text.lower()
        for s in sorted(known, key=len, reverse=True):
            lowered = lowered.replace(s.lower(), " ")
        return sorted(
            {f"{secret[s]}: {s}" for s in secret if s not in known and s.lower() in lowered}
        )


def _put(body: Any, path: str, value: str) -> None:
    head, _, rest = path.partition(".")
    many = head.endswith("[]")
    name = head.removesuffix("[]")
    target = body if not name else body.get(name) if isinstance(body, dict) else None
    if many:
        if not isinstance(target, list):
            return
        for i, item in enumerate(target):
            if rest:
                _put(item, rest, value)
            else:
                target[i] = value
    elif rest:
        _put(target, rest, value)
    elif isinstance(body, dict) and name in body:
        body[name] = value


def _fields(body: Any, path: str) -> bool:
    """Whether the example body has the field at ``path`` (an empty list counts)."""
    head, _, rest = path.partition(".")
    name = head.removesuffix("[]")
    if name and (not isinstance(body, dict) or name not in body):
        return False
    target = body[name] if name else body
    if head.endswith("[]") and rest:
        return isinstance(target, list) and all(_fields(item, rest) for item in target)
    return _fields(target, rest) if rest else True


def random_like(value: str) -> str:
    try:
        uuid.UUID(value)
    except ValueError:
        if value.isdigit():
            return "".join(secrets.choice("0123456789") for _ in value)
        return secrets.token_urlsafe(32)
    return str(uuid.uuid4())


def allowed(principal: str | None, op: Operation, combo: dict[str, str]) -> Allow | None:
    for rule in ALLOWED.get((principal or "", op.key), []):
        if all(combo.get(k) == v for k, v in rule.when.items()):
            return rule
    return None


def refused(op: Operation, answer: Answer, expected: set[int]) -> bool:
    if op.api:
        return answer.status in expected
    if 300 <= answer.status < 400:
        return answer.location.startswith("/signin")
    return answer.status in (expected & PORTAL_REFUSALS)


async def walk_operation(walker: Walker, op: Operation) -> list[str]:
    """Everything wrong with ``op``: unmapped ids, failed controls, successes, leaks."""
    slots, missing = plan(op)
    if missing:
        return [f"cannot walk: {m}" for m in missing]
    problems: list[str] = []
    if op.has_body:
        example = BODIES.get(op.key, BODIES.get(op.schema or "", {}))
        problems += [
            f"the example body of {op.schema} has no {s.name[5:]!r} field"
            for s in slots
            if s.name.startswith("body:")
            and s.labels is not None
            and not _fields(example, s.name[5:])
        ]
    world = walker.world
    runs = combos(slots) or [{}]
    takes_ids = any(s.labels is not None and not s.literal for s in slots)

    literals = {s.name for s in slots if s.literal}

    def values(combo: dict[str, str]) -> dict[str, str]:
        return {k: world.ids.get(v, v) for k, v in combo.items()}

    def made_up(sent: dict[str, str]) -> dict[str, str]:
        return {k: v if k in literals else random_like(v) for k, v in sent.items()}

    def check_valid(who: str, answer: Answer) -> None:
        if op.api and answer.code == "validation_error" and not invalid:
            invalid.append(f"{who}: 422 validation_error: the example request does not validate")

    invalid: list[str] = []
    public = PUBLIC.get(op.key)
    if takes_ids and not public:
        # The positive control: the request is well-formed and someone may do it.
        tried = []
        for combo, owner in itertools.product(runs, OWNERS):
            answer, _ = await walker.send(op, owner, values(combo))
            check_valid(owner, answer)
            if answer.success:
                break
            tried.append(f"{owner} {combo}: {answer}")
        else:
            problems.append(
                "positive control: none of the victim's own principals succeeded, so the walk "
                "proves nothing (fix the example body or the world): " + "; ".join(tried[:6])
            )
    oracle: dict[str | None, Answer] = {}
    for principal, combo in itertools.product(PRINCIPALS, runs):
        sent_values = values(combo)
        answer, sent = await walker.send(op, principal, sent_values)
        who = principal or "signed out"
        check_valid(who, answer)
        if answer.status >= 500:
            problems.append(f"{who} {combo}: {answer.status} server error")
            continue
        if public:
            continue
        rule = allowed(principal, op, combo)
        if takes_ids and rule is None and not refused(op, answer, API_REFUSALS):
            problems.append(f"{who} {combo}: {answer} (expected a refusal: 401/403/404)")
        if rule is not None and not answer.success:
            problems.append(f"{who} {combo}: {answer}, but ALLOWED says it works: {rule.why}")
        shown = await walker.capability_view(op, sent_values)
        for leak in walker.leaks(principal, answer.text, sent, shown):
            problems.append(f"{who} {combo}: shows {leak} ({answer.status})")
        if takes_ids and principal in OUTSIDERS and not set(combo) & set(CAPABILITY_VIEWS):
            if principal not in oracle:
                oracle[principal], _ = await walker.send(op, principal, made_up(sent_values))
            expected = oracle[principal]
            if (answer.status, answer.code) != (expected.status, expected.code):
                problems.append(
                    f"{who} {combo}: {answer}, but {expected} for made-up ids: "
                    "the answer tells that the victim's ids exist"
                )
    if not public:
        problems += await walk_mixed(walker, op, slots, runs)
    return invalid + problems


async def walk_mixed(
    walker: Walker, op: Operation, slots: list[Slot], runs: list[dict[str, str]]
) -> list[str]:
    """Chain 2's principals send their own ids with one of the victim's in turn."""
    owned = [s.name for s in slots if s.owned]
    if len([s for s in slots if s.labels is not None and not s.literal]) < 2 or not owned:
        return []
    world = walker.world
    problems = []
    seen = set()
    for combo in runs:
        for victim_slot in owned:
            mixed = {k: (v if k == victim_slot else twin(v)) for k, v in combo.items()}
            key = tuple(sorted(mixed.items()))
            if key in seen or all(v == combo[k] for k, v in mixed.items() if k != victim_slot):
                continue
            seen.add(key)
            for principal in TWINS:
                sent_values = {k: world.ids.get(v, v) for k, v in mixed.items()}
                answer, sent = await walker.send(op, principal, sent_values)
                if not refused(op, answer, MIXED_REFUSALS):
                    problems.append(
                        f"{principal} {mixed}: {answer} (own ids with the victim's "
                        f"{victim_slot}: expected 403/404/422)"
                    )
                for leak in walker.leaks(principal, answer.text, sent, set()):
                    problems.append(f"{principal} {mixed}: shows {leak} ({answer.status})")
    return problems


# --- Fixtures and tests ---------------------------------------------------------------------


class _Undone(AsyncSession):
    async def commit(self) -> None:
        await self.rollback()


class UndoneDatabase(RolledBackDatabase):
    """Sessions in a savepoint of one outer transaction that roll back when the request
    commits: walking (a success included) never changes the world."""

    session_class = _Undone


@pytest.fixture(scope="module")
async def walker(database_url: str, engine: AsyncEngine) -> AsyncIterator[Walker]:
    """The world, built once in a transaction rolled back after the module."""
    settings = SETTINGS.model_copy(
        update={"database_url": database_url, "base_url": "http://testserver"}
    )
    async with engine.connect() as connection:
        outer = await connection.begin()
        try:
            db = RolledBackDatabase(database_url, engine, connection)
            async with db.write_sessions() as session, session.begin():
                world = await build_world(session, settings)
            app = create_app(settings, db=UndoneDatabase(database_url, engine, connection))
            # A server error is an answer the walk reports (500), not an exception.
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield Walker(world, c, app)
        finally:
            await outer.rollback()


def _ids(ops: Iterable[Operation]) -> Iterator[Any]:
    for op in ops:
        yield pytest.param(op, id=op.key)


@pytest.mark.parametrize("op", list(_ids(OPERATIONS)))
async def test_route_refuses_foreign_principals(walker: Walker, op: Operation) -> None:
    problems = await walk_operation(walker, op)
    assert not problems, f"{op.key}:\n  " + "\n  ".join(problems)


# --- The walker itself ----------------------------------------------------------------------


class _GadgetIn(BaseModel):
    owner_id: uuid.UUID
    name: str


def test_a_new_route_is_walked_and_fails_until_its_ids_are_mapped() -> None:
    app = create_app(SETTINGS)

    @app.get("/api/v1/gizmos/{gizmo_id}")
    async def gizmo(gizmo_id: uuid.UUID) -> dict[str, str]:
        return {}

    @app.post("/api/v1/gadgets")
    async def gadget(data: _GadgetIn) -> dict[str, str]:
        return {}

    @app.get("/gizmos/{gizmo_id}", include_in_schema=False)
    async def gizmo_page(gizmo_id: uuid.UUID) -> dict[str, str]:
        return {}

    ops = {op.key: op for op in api_operations(app.openapi()) + portal_operations(app)}
    assert plan(ops["GET /api/v1/gizmos/{gizmo_id}"])[1] == [
        "the id parameter 'gizmo_id' has no entry in IDS"
    ]
    assert plan(ops["GET /gizmos/{gizmo_id}"])[1] == [
        "the id parameter 'gizmo_id' has no entry in IDS"
    ]
    assert plan(ops["POST /api/v1/gadgets"])[1] == [
        "the body field 'owner_id' (_GadgetIn) has no entry in BODY_IDS",
        "no example body for _GadgetIn in BODIES",
    ]
    # The routes the app already has are all mapped.
    assert plan(ops["GET /api/v1/customers/{customer_id}/users/{user_id}/licenses"])[1] == []
    assert [op.key for op in OPERATIONS if plan(op)[1]] == []


def test_the_walkers_tables_name_what_exists() -> None:
    """An entry for a route or a parameter that is gone fails: the tables stay true."""
    keys = {op.key for op in OPERATIONS}
    params = {p for op in OPERATIONS for p in (*op.path_params, *op.query_ids)}
    schemas = {op.schema for op in OPERATIONS if op.schema}
    body_keys = {
        k for op in OPERATIONS for path in op.body_ids if (k := body_key(op, path)) is not None
    }
    assert {*PUBLIC, *FORMS, *(op for _who, op in ALLOWED)} - keys == set()
    assert set(BODIES) - keys - schemas == set()
    assert (set(IDS) | set(LITERALS)) - params == set()
    assert set(BODY_IDS) - body_keys == set()
    assert {who for who, _op in ALLOWED} <= {p for p in PRINCIPALS if p}


class _LeakyOut(BaseModel):
    name: str


async def test_the_walker_finds_a_route_that_skips_the_check(walker: Walker) -> None:
    """The walk is not vacuous: a route that shows any customer's name to anyone fails it."""
    app = create_app(walker.app.state.settings, db=walker.app.state.db)

    @app.get("/api/v1/customers/{customer_id}/name-without-a-check")
    async def leaky(
        customer_id: uuid.UUID, session: AsyncSession = Depends(get_session)
    ) -> _LeakyOut:
        tenant = await session.get(Tenant, customer_id)
        if tenant is None:
            raise NotFound()
        return _LeakyOut(name=tenant.display_name)

    (op,) = [op for op in api_operations(app.openapi()) if "without-a-check" in op.path]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        problems = await walk_operation(Walker(walker.world, client, app), op)
    assert "P2 {'customer_id': 'C1'}: 200 (expected a refusal: 401/403/404)" in problems
    assert "P2 {'customer_id': 'C1'}: shows C1.tenant: Yarrow Holdings (200)" in problems
    assert (
        "P2 {'customer_id': 'C1'}: 200, but 404 not_found for made-up ids: "
        "the answer tells that the victim's ids exist"
    ) in problems
    assert not any(p.startswith("positive control") for p in problems)
