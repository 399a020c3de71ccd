"""Print the OpenAPI document (``make openapi`` writes it to openapi.json)."""

from __future__ import annotations

import json
import sys

from twotier.app import create_app
from twotier.config import Settings


def document() -> dict[str, object]:
    # The mailbox backend is on so the dev-mailbox endpoints are documented too.
    settings = Settings(email_backend="mailbox", _env_file=None)
    return create_app(settings).openapi()


if __name__ == "__main__":
    json.dump(document(), sys.stdout, indent=2, sort_keys=False, ensure_ascii=False)
    sys.stdout.write("\n")
