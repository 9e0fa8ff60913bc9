"""The OIDC allow-list (`QBR_OIDC_ALLOW`): who may sign in, and with which scope.

`boss@msp.com=admin, @msp.com=read` — an exact email wins over its domain;
anyone matching neither is refused. Scopes are the API key scopes.
"""

from __future__ import annotations

import re

SCOPES = ("read", "admin")
_EMAIL = re.compile(r"^[^@\s,=]+@[^@\s,=]+\.[^@\s,=]+$")
_DOMAIN = re.compile(r"^@[^@\s,=]+\.[^@\s,=]+$")


def parse_allow(text: str) -> dict[str, str]:
    """{"boss@msp.com": "admin", "@msp.com": "read"}; ValueError naming a bad entry."""
    allow: dict[str, str] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        who, sep, scope = part.rpartition("=")
        who, scope = who.strip().lower(), scope.strip().lower()
        if not sep or scope not in SCOPES or not (_EMAIL.match(who) or _DOMAIN.match(who)):
            raise ValueError(
                f"QBR_OIDC_ALLOW: {part!r} is not EMAIL=SCOPE or @DOMAIN=SCOPE with SCOPE "
                "read or admin (e.g. boss@msp.com=admin,@msp.com=read)"
            )
        allow[who] = scope
    return allow


def scope_for(allow: dict[str, str], email: str) -> str | None:
    email = email.strip().lower()
    if email in allow:
        return allow[email]
    domain = "@" + email.rpartition("@")[2]
    return allow.get(domain) if "@" in email else None
