from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from twotier.kit.clock import utcnow
from twotier.kit.db import Base, IdMixin, TimestampMixin, str_enum
from twotier.kit.states import Machine


class EnrollmentStatus(StrEnum):
    pending_email_verification = "pending_email_verification"
    in_review = "in_review"
    approved = "approved"
    rejected = "rejected"


OPEN_ENROLLMENT = (EnrollmentStatus.pending_email_verification, EnrollmentStatus.in_review)

# The primary contact confirms the email, then the operator approves or rejects (final);
# an enrollment still waiting for the confirmation can be rejected too.
ENROLLMENT = Machine(
    "enrollment",
    {
        EnrollmentStatus.pending_email_verification: {
            EnrollmentStatus.in_review,
            EnrollmentStatus.rejected,
        },
        EnrollmentStatus.in_review: {EnrollmentStatus.approved, EnrollmentStatus.rejected},
    },
)


STATUS_LABELS: dict[EnrollmentStatus, str] = {
    EnrollmentStatus.pending_email_verification: "Waiting for email confirmation",
    EnrollmentStatus.in_review: "In review",
    EnrollmentStatus.approved: "Approved",
    EnrollmentStatus.rejected: "Not approved",
}


class Enrollment(IdMixin, TimestampMixin, Base):
    __tablename__ = "enrollments"
    __table_args__ = (
        Index("ix_enrollments_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_enrollments_status_created", "status", "created_at", "id"),
        Index("ix_enrollments_partner_id_status", "partner_id", "status"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
    )
    program: Mapped[str] = mapped_column(String(40), nullable=False)
    status: Mapped[EnrollmentStatus] = mapped_column(str_enum(EnrollmentStatus, 40), nullable=False)
    partner_id: Mapped[str] = mapped_column(String(20), nullable=False)
    company_name: Mapped[str] = mapped_column(String(200), nullable=False)
    country: Mapped[str] = mapped_column(String(2), nullable=False)
    legal_profile: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    primary_contact: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    support_profile: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    shortcut: Mapped[bool] = mapped_column(nullable=False, default=False)
    rejection_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    submitted_by_user_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decided_by_user_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)


class EnrollmentVerification(IdMixin, Base):
    """A single-use, expiring link proving the primary contact's email."""

    __tablename__ = "enrollment_verifications"

    enrollment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
