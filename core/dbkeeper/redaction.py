"""Keep secrets out of text that leaves the process (logs, errors, CLI output).

Passwords reach dbkeeper in URLs, config files and dicts. Every place that turns
such input into text goes through :func:`redact`, which removes the raw and the
percent-encoded forms of each known secret, and through URL rendering that
masks the password field (see :mod:`dbkeeper.urls`).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"


def secret_forms(secret: str) -> set[str]:
    """Return every spelling of ``secret`` that may appear in text: raw and percent-encoded."""
    if not secret:
        return set()
    return {secret, quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret)}


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every form of every secret in ``text`` with ``***``.

    Longer forms are replaced first, so a secret that contains another secret
    is masked whole.
    """
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= secret_forms(secret)
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text
