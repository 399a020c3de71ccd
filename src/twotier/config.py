"""Settings, read from the environment with the prefix ``TWOTIER_``."""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum
from functools import lru_cache
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from twotier.kit.security import configure_password_hashing

DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105 — the refused default


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class EmailBackend(StrEnum):
    mailbox = "mailbox"
    smtp = "smtp"


class Settings(BaseSettings):
    # Refusals name the setting, never echo its value (keys and passwords would be printed).
    model_config = SettingsConfigDict(
        env_prefix="TWOTIER_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    env: Environment = Environment.development
    database_url: str = "sqlite+aiosqlite:///./var/twotier.db"
    # Connections each process keeps open, and how many more it may open under a burst
    # (closed again when returned). Size the pool to the concurrent requests a process
    # serves; PostgreSQL's max_connections must cover every process's pool plus overflow.
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = DEFAULT_SECRET_KEY

    email_backend: EmailBackend = EmailBackend.mailbox
    email_from: str = "twotier <no-reply@twotier.localhost>"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_timeout_seconds: float = 30.0

    # Request bodies past this size are refused (413) before they are read; the CLI's
    # CSV imports do not go through HTTP and are not limited.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    access_token_ttl_seconds: int = Field(default=3600, ge=60)
    session_ttl_seconds: int = Field(default=8 * 3600, ge=60)

    # argon2id cost for new password hashes (RFC 9106 low-memory profile by default). Lower
    # only where nothing real is protected: the test suite uses the minimum.
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65536, ge=8)
    password_hash_parallelism: int = Field(default=4, ge=1)
    # A password set by a reset must be changed at the next sign-in, and stops working after.
    temporary_password_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=300)

    # Sign-in throttling (directory/throttle.py). A browser holding its device cookie is
    # judged only by its own failures; other clients share the account's growing delay
    # (1 s doubling to 60 s once the free failures of the hour are used), and each address
    # has its own cap per window.
    signin_window_seconds: int = Field(default=900, ge=60)
    signin_max_failures_per_address: int = Field(default=20, ge=1)
    signin_max_failures_per_device: int = Field(default=10, ge=1)
    signin_free_failures_per_account: int = Field(default=10, ge=1)

    # Proxies whose X-Forwarded-For/-Proto uvicorn believes (comma-separated addresses or
    # networks, or *). Empty: none, the socket's peer is the client.
    forwarded_allow_ips: str = ""

    # Outbox delivery.
    outbox_in_process: bool = True
    outbox_poll_seconds: float = Field(default=2.0, gt=0)
    outbox_lease_seconds: int = Field(default=60, ge=1)
    outbox_max_attempts: int = Field(default=12, ge=1)
    outbox_backoff_base_seconds: float = Field(default=5.0, gt=0)
    outbox_batch_size: int = Field(default=20, ge=1)

    idempotency_ttl_hours: int = Field(default=48, ge=24)

    # Webhooks. Private, loopback and link-local targets are refused unless allowed (local
    # development and tests); plain http is refused in production unless allowed too.
    webhooks_allow_private: bool = False
    webhook_timeout_seconds: float = Field(default=15.0, gt=0)
    webhook_retry_horizon_seconds: int = Field(default=3 * 24 * 3600, ge=60)
    webhook_backoff_base_seconds: float = Field(default=30.0, gt=0)
    webhook_backoff_cap_seconds: float = Field(default=12 * 3600.0, gt=0)
    webhook_secret_grace_seconds: int = Field(default=24 * 3600, ge=0)

    # Audit chain: records sealed per batch by the outbox worker (and at verify time).
    audit_seal_batch_size: int = Field(default=500, ge=1)
    # The key audit hashes are made with; outside the database, so whoever can write the
    # database cannot forge a record. Unset: derived from the secret key.
    audit_key: SecretStr | None = None

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Self:
        if self.audit_key is not None and not self.audit_key.get_secret_value():
            raise ValueError(
                "TWOTIER_AUDIT_KEY is empty: unset it (derived from TWOTIER_SECRET_KEY) or "
                "set a random value"
            )
        if self.env is Environment.production:
            if self.audit_key is not None and len(self.audit_key.get_secret_value()) < 32:
                raise ValueError("TWOTIER_AUDIT_KEY must be a random value of 32+ characters")
            if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
                raise ValueError(
                    "TWOTIER_SECRET_KEY must be set to a random value of 32+ characters "
                    "in production"
                )
            if self.email_backend is EmailBackend.mailbox:
                raise ValueError(
                    "TWOTIER_EMAIL_BACKEND=mailbox is for development; use smtp in production"
                )
        return self

    def apply_password_hashing(self) -> None:
        configure_password_hashing(
            time_cost=self.password_hash_time_cost,
            memory_kib=self.password_hash_memory_kib,
            parallelism=self.password_hash_parallelism,
        )

    @property
    def audit_hash_key(self) -> bytes:
        """The HMAC key of audit hashes: ``TWOTIER_AUDIT_KEY``, or one derived from the
        secret key (its own purpose, so it never equals a key used elsewhere)."""
        if self.audit_key is not None:
            return self.audit_key.get_secret_value().encode()
        return hmac.new(self.secret_key.encode(), b"twotier audit hashes", hashlib.sha256).digest()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_production(self) -> bool:
        return self.env is Environment.production

    @property
    def mailbox_enabled(self) -> bool:
        return self.email_backend is EmailBackend.mailbox


@lru_cache
def get_settings() -> Settings:
    return Settings()
