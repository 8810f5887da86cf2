"""Keep secrets out of text that leaves the process (logs, errors, CLI output).

Passwords reach dbkeeper in URLs, config files and dicts. Where dbkeeper
itself writes one into text it never writes the secret: URL rendering masks
the password field (see :mod:`dbkeeper.urls`). Text that comes from outside
(a driver's exception, a tool's stderr) goes through :func:`redact`, which
masks each known secret, raw or percent-encoded, *where it stands as itself*:
an occurrence glued to letters or digits on a side where the secret itself
has a letter or digit is part of another word, not the secret, and is left
alone. Masking every substring turned "backup passphrase" into
"b***ckup p***ssphr***se" for the passphrase ``a``: unreadable, and a
spelled-out picture of the secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"


def secret_forms(secret: str) -> set[str]:
    """Return every spelling of ``secret`` that may appear in text: raw and percent-encoded."""
    if not secret:
        return set()
    return {secret, quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret)}


def _standing_alone(form: str) -> str:
    """A pattern for ``form`` that does not match inside a longer word.

    The bound applies only on a side where ``form`` itself ends in a word
    character: ``p@ss`` in ``u:p@ss@h`` is bounded by ``:`` and ``@`` anyway.
    """
    pattern = re.escape(form)
    if re.match(r"\w", form[0]):
        pattern = r"(?<!\w)" + pattern
    if re.match(r"\w", form[-1]):
        pattern += r"(?!\w)"
    return pattern


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every form of every secret standing as itself in ``text`` with ``***``.

    Longer forms are tried first, so a secret that contains another secret
    is masked whole.
    """
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= secret_forms(secret)
    if not forms:
        return text
    pattern = "|".join(_standing_alone(form) for form in sorted(forms, key=len, reverse=True))
    return re.sub(pattern, MASK, text)
