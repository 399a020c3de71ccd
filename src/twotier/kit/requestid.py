"""``X-Request-Id``: accepted when sane, generated otherwise, echoed on every answer (by
``kit.edge``)."""

from __future__ import annotations

import re
import uuid

from starlette.types import Scope

HEADER = "x-request-id"
_HEADER = HEADER.encode()
_SANE = re.compile(r"^[A-Za-z0-9._:\-]{1,100}$")


def request_id_of(scope: Scope) -> str:
    """The id the client presented, if sane; a new one otherwise."""
    for name, value in scope["headers"]:
        if name == _HEADER:
            presented = value.decode("latin-1")
            return presented if _SANE.match(presented) else uuid.uuid4().hex
    return uuid.uuid4().hex
