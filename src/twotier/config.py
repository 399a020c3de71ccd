"""Settings, read from the environment with the prefix ``TWOTIER_``."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import Self

from pydantic import Field, model_validator
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
    model_config = SettingsConfigDict(env_prefix="TWOTIER_", env_file=".env", extra="ignore")

    env: Environment = Environment.development
    database_url: str = "sqlite+aiosqlite:///./var/twotier.db"
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

    access_token_ttl_seconds: int = Field(default=3600, ge=60)
    session_ttl_seconds: int = Field(default=8 * 3600, ge=60)

    # argon2id cost for new password hashes (RFC 9106 low-memory profile by default). Lower
    # only where nothing real is protected: the test suite uses the minimum.
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65536, ge=8)
    password_hash_parallelism: int = Field(default=4, ge=1)
    # A password set by a reset must be changed at the next sign-in, and stops working after.
    temporary_password_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=300)

    # Sign-in throttling: failures allowed per window, per account and per client address.
    signin_window_seconds: int = Field(default=900, ge=1)
    signin_max_failures_per_account: int = Field(default=5, ge=1)
    signin_max_failures_per_client: int = Field(default=20, ge=1)

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

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Self:
        if self.env is Environment.production:
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
