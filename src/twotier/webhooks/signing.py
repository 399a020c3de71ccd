"""Standard Webhooks signing: ``whsec_`` secrets, ``v1,<base64 HMAC-SHA256>`` signatures.

A secret is derived from the server's secret key and the endpoint's random nonce, so it is
never stored; rotating ``TWOTIER_SECRET_KEY`` therefore changes every webhook secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from standardwebhooks.webhooks import Webhook

from twotier.config import Settings

SECRET_PREFIX = "whsec_"  # noqa: S105 — the spec's prefix, not a secret


def secret_for(settings: Settings, nonce: str) -> str:
    key = hmac.new(
        settings.secret_key.encode(), f"webhook-secret:{nonce}".encode(), hashlib.sha256
    ).digest()
    return SECRET_PREFIX + base64.b64encode(key).decode()


def signature_header(secrets_: list[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """One ``v1,...`` per secret, space-separated (several while a rotation's grace runs)."""
    return " ".join(Webhook(s).sign(msg_id, timestamp, body) for s in secrets_)
