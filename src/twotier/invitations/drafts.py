"""The invitation draft page shared by reseller and customer invitations."""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import Request
from fastapi.responses import Response

from twotier.directory.principal import Principal
from twotier.invitations.schemas import DraftEmail
from twotier.kit.errors import Gone
from twotier.kit.i18n import _
from twotier.web.render import render


class HasDraft(Protocol):
    @property
    def draft_email(self) -> DraftEmail | None: ...


def render_draft(
    request: Request,
    principal: Principal,
    invitation: HasDraft,
    *,
    send_action: str,
    back_href: str,
    back_label: str,
    section: str,
    subject: str | None = None,
    body: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    """The link with Copy, the editable draft, Send / mailto / Done — edits kept on errors."""
    draft = invitation.draft_email
    if draft is None:
        raise Gone(_("This invitation is no longer pending."), code="invitation_not_pending")
    return render(
        request,
        "invitation_draft.html",
        {
            "invitation": invitation,
            "subject": subject if subject is not None else draft.subject,
            "body": body if body is not None else draft.body,
            "send_action": send_action,
            "back_href": back_href,
            "back_label": back_label,
            "error": error,
            **extra,
        },
        principal=principal,
        section=section,
        status_code=status_code,
    )
