"""Keyset pagination with opaque cursors: ``?limit=&cursor=`` → ``{items, next_cursor}``."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel
from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from twotier.kit.errors import Invalid

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

T = TypeVar("T")
RowT = TypeVar("RowT")
# Any SELECT, whatever its columns.
AnySelect = Select[*tuple[Any, ...]]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: str | None
    # The list a cursor belongs to (the API route it was issued by); with the sort keys and
    # direction it binds each cursor to one list, so another list refuses it.
    list_name: str = ""


async def page_params(  # async: FastAPI runs a plain def dependency in a thread
    request: Request,
    limit: int = Query(
        DEFAULT_LIMIT,
        ge=1,
        description=f"Page size; values above {MAX_LIMIT} are clamped to {MAX_LIMIT}.",
    ),
    cursor: str | None = Query(None, description="`next_cursor` of the previous page."),
) -> PageParams:
    route = request.scope.get("route")
    name = f"{request.method} {getattr(route, 'path', request.url.path)}"
    return PageParams(limit=min(limit, MAX_LIMIT), cursor=cursor, list_name=name)


def binding(list_name: str, keys: Sequence[InstrumentedAttribute[Any]], descending: bool) -> str:
    """A short tag naming the list, its sort keys and direction (not a secret: a cursor is
    only a position, but one from another list would page through the wrong thing)."""
    spec = "|".join(
        [list_name, "desc" if descending else "asc"]
        + [f"{key.class_.__tablename__}.{key.key}" for key in keys]
    )
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


def encode(values: Sequence[Any], tag: str) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, uuid.UUID):
            return str(value)
        return value

    raw = json.dumps([tag, *[plain(v) for v in values]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, keys: Sequence[InstrumentedAttribute[Any]], tag: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(decoded, list) or len(decoded) != len(keys) + 1:
            raise ValueError("wrong shape")
        if decoded[0] != tag:
            raise ValueError("a cursor of another list")
        values = decoded[1:]
        out: list[Any] = []
        for key, value in zip(keys, values, strict=True):
            python_type = key.type.python_type
            if value is None:
                out.append(None)
            elif python_type is datetime:
                out.append(datetime.fromisoformat(value))
            elif python_type is uuid.UUID:
                out.append(uuid.UUID(value))
            else:
                out.append(python_type(value))
        return out
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Invalid("The cursor is not valid for this list.", code="invalid_cursor") from exc


async def paginate(
    session: AsyncSession,
    stmt: AnySelect,
    *,
    keys: Sequence[InstrumentedAttribute[Any]],
    params: PageParams,
    scalars: bool = True,
    descending: bool = False,
) -> tuple[list[Any], str | None]:
    """Rows after the cursor in ascending (or ``descending``) ``keys`` order, and the cursor
    of the next page.

    ``keys`` must end in a unique column so the order is total.
    """
    tag = binding(params.list_name, keys, descending)
    if params.cursor:
        after = decode(params.cursor, keys, tag)
        if descending:
            stmt = stmt.where(tuple_(*keys) < tuple_(*after))
        else:
            stmt = stmt.where(tuple_(*keys) > tuple_(*after))
    order = [k.desc() for k in keys] if descending else list(keys)
    stmt = stmt.order_by(*order).limit(params.limit + 1)
    result = await session.execute(stmt)
    rows: list[Any] = list(result.scalars().all()) if scalars else list(result.all())
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        next_cursor = encode(_key_values(rows[-1], keys, scalars), tag)
    return rows, next_cursor


def _key_values(last: Any, keys: Sequence[InstrumentedAttribute[Any]], scalars: bool) -> list[Any]:
    """The sort keys of a page's last row: an entity's attributes, the first entity of a
    row of entities, or a row of columns that selects the keys under their own names."""
    if scalars:
        return [getattr(last, key.key) for key in keys]
    head = last[0]
    if all(hasattr(head, key.key) for key in keys):
        return [getattr(head, key.key) for key in keys]
    return [last._mapping[key.key] for key in keys]


async def every_page(
    fetch: Callable[[PageParams], Awaitable[tuple[list[T], str | None]]],
) -> list[T]:
    """All items of a paged listing, following cursors at the largest page size (for short
    lists a form offers in full, such as the catalog's SKUs)."""
    out: list[T] = []
    cursor: str | None = None
    while True:
        items, cursor = await fetch(PageParams(limit=MAX_LIMIT, cursor=cursor))
        out.extend(items)
        if cursor is None:
            return out


def page_of(
    items: Sequence[T], key: Callable[[T], tuple[str, ...]], params: PageParams
) -> tuple[list[T], str | None]:
    """A page of a short list computed in full (a catalog, per-SKU totals): the items after
    the cursor in ``key`` order, which must be unique, and the cursor of the next page."""
    tag = hashlib.sha256(f"{params.list_name}|in memory".encode()).hexdigest()[:12]
    ordered = sorted(items, key=key)
    if params.cursor:
        after = _decode_strings(params.cursor, tag)
        ordered = [item for item in ordered if key(item) > after]
    page = ordered[: params.limit]
    return page, encode(key(page[-1]), tag) if len(ordered) > params.limit else None


def _decode_strings(cursor: str, tag: str) -> tuple[str, ...]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        decoded = None
    if not (
        isinstance(decoded, list)
        and len(decoded) > 1
        and decoded[0] == tag
        and all(isinstance(v, str) for v in decoded)
    ):
        raise Invalid("The cursor is not valid for this list.", code="invalid_cursor")
    return tuple(decoded[1:])
