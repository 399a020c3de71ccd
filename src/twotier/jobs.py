"""Imports every module that registers outbox handlers or periodic jobs (the API process
and ``twotier worker`` both import this, so either can deliver anything)."""

from twotier.audit import chain as _audit_chain  # noqa: F401 — the audit sealer
from twotier.commerce import renewals as _renewals  # noqa: F401 — subscription terms
from twotier.kit import housekeeping as _housekeeping  # noqa: F401 — expired keys
from twotier.mail import delivery as _email  # noqa: F401 — email delivery
from twotier.webhooks import delivery as _webhooks  # noqa: F401 — fan-out and delivery
