"""Hot reads' answers written by orjson: the bytes pydantic writes for the route's response
model (aware UTC datetimes as ``Z``, decimals as strings, UUIDs hyphenated, keys in the
model's field order), at a tenth of pydantic's cost of validating the answer's dicts and
serializing the models.

The dicts come from typed columns in the domain's query module, built in the model's field
order; ``tests/test_hot_reads.py`` checks, for every hot read, that the answer's bytes are
what pydantic writes for the documented model after validating them — a missing, extra or
reordered field, or another format, fails it.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import orjson
from fastapi import Response

_OPTIONS = orjson.OPT_UTC_Z


def _default(value: Any) -> Any:
    # asyncpg's UUIDs are its own subclass, which orjson leaves to us.
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, default=_default, option=_OPTIONS)


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(dumps(content), status_code=status_code, media_type="application/json")


def page_response(items: list[dict[str, Any]], next_cursor: str | None) -> Response:
    """A ``kit.pagination.Page`` of these items."""
    return json_response({"items": items, "next_cursor": next_cursor})
