"""Password strength: zxcvbn's estimate, told whose password it is.

Checked where a password is chosen (sign-up, users added by admins or partners, the change
after a reset, the membership registry and its import), never at sign-in.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

import anyio.to_thread
from zxcvbn import zxcvbn

from twotier.kit.errors import Invalid
from twotier.kit.i18n import _

# At least 10^8 guesses by zxcvbn's estimate: where its score 3 ("safely unguessable")
# starts, inclusive, so a random password of the minimum length (8) still passes.
MIN_GUESSES_LOG10 = 8.0
# zxcvbn refuses longer input and its cost grows with length: the rest is extra strength.
ESTIMATED_LENGTH = 72
# Without the user's own words, a password keeps at least this many letters or digits.
MIN_OWN_CHARACTERS = 6
# A password naming the service is as guessable as one naming its user.
SERVICE_WORDS = ("twotier",)

_WORD = re.compile(r"[^\W_]{3,}")
# zxcvbn keeps the user inputs in a module-wide dictionary: one estimate at a time.
_zxcvbn_lock = threading.Lock()


class PasswordTooWeak(Invalid):
    code = "password_too_weak"
    title = "Password too weak"


def personal_words(*values: str | None) -> list[str]:
    """What a password must not be made of: each value (email, name, domain...), an
    email's local part, and their words of three or more letters or digits, lower-cased."""
    words: list[str] = [*SERVICE_WORDS]
    for value in values:
        if not value:
            continue
        lowered = value.casefold().strip()
        words.append(lowered)
        if "@" in lowered:
            words.append(lowered.partition("@")[0])
        words.extend(_WORD.findall(lowered))
    return list(dict.fromkeys(words))


def _made_of(password: str, words: Iterable[str]) -> bool:
    """Whether the password is the user's own words with little else (digits, symbols)."""
    text = password.casefold()
    removed = False
    for word in sorted(words, key=len, reverse=True):
        if word in text:
            text = text.replace(word, " ")
            removed = True
    own = [ch for ch in text if ch.isalnum()]
    return removed and len(own) < MIN_OWN_CHARACTERS


def weakness(password: str, words: list[str]) -> str | None:
    """Why ``password`` is too weak for someone described by ``words``, or None."""
    if _made_of(password, words):
        return _(
            "It is made of your email, your name, your organization's name or domain, or "
            "this service's name. Add words of your own."
        )
    with _zxcvbn_lock:
        result = zxcvbn(password[:ESTIMATED_LENGTH], user_inputs=words)
    if result["guesses_log10"] >= MIN_GUESSES_LOG10:
        return None
    feedback = result["feedback"]
    reasons = [feedback["warning"], *feedback["suggestions"]]
    return " ".join(r for r in reasons if r) or _(
        "It is too easy to guess. Add another word or two; uncommon words are better."
    )


def check_password(password: str, words: list[str]) -> None:
    """Raise ``PasswordTooWeak`` with the reason (for callers already off the event loop)."""
    reason = weakness(password, words)
    if reason is not None:
        raise PasswordTooWeak(reason)


async def ensure_strong(password: str, words: list[str]) -> None:
    """``check_password`` in a worker thread: an estimate takes a few milliseconds."""
    await anyio.to_thread.run_sync(check_password, password, words)
