"""Email addresses the way the mail provider takes them, checked where they enter.

SendGrid's v3 mail/send validates every address against the OpenAPI ``format: email`` and
answers 400 for the whole request otherwise: the local part is ASCII ``dot-atom`` text (no
``é``, no spaces, no quoted strings), the domain is ASCII host names separated by dots (an
internationalised domain goes in punycode, ``xn--…``), at most 64 characters before the ``@``
and 254 in all. An address that passes here is one the provider accepts.
"""

from __future__ import annotations

import re

MAX_LOCAL = 64
MAX_ADDRESS = 254
MAX_LABEL = 63

_ATEXT = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$")
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: The whole grammar below in one match (ASCII only, so no space or control character): a
#: sync checks every customer's address, and nearly all of them pass; only a refused one goes
#: through the checks one by one, to say why.
_ACCEPTED = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_HOST_LABEL}(?:\.{_HOST_LABEL})+")


class InvalidEmail(ValueError):
    """The address would be refused by the mail provider; the message says why."""


def email_problem(address: str) -> str | None:
    """Why the provider would refuse this address, or None when it would take it."""
    if (
        len(address) <= MAX_ADDRESS
        and _ACCEPTED.fullmatch(address) is not None
        and address.index("@") <= MAX_LOCAL
    ):
        return None
    return _refusal(address)


def _refusal(address: str) -> str | None:
    """The first rule the address breaks (None if it breaks none after all)."""
    if not address:
        return "empty"
    if len(address) > MAX_ADDRESS:
        return f"longer than {MAX_ADDRESS} characters"
    bad_space = next((ch for ch in address if ch.isspace() or not ch.isprintable()), None)
    if bad_space is not None:
        return f"contains a space or control character ({bad_space!r})"
    if address.count("@") != 1:
        return "needs exactly one @"
    local, domain = address.split("@")
    if not local:
        return "nothing before the @"
    if not domain:
        return "nothing after the @"
    non_ascii = next((ch for ch in local if not ch.isascii()), None)
    if non_ascii is not None:
        return f"non-ASCII character {non_ascii!r} before the @ (the mail provider refuses it)"
    if len(local) > MAX_LOCAL:
        return f"more than {MAX_LOCAL} characters before the @"
    if any(not atom or not _ATEXT.match(atom) for atom in local.split(".")):
        return f"{local!r} is not a valid name before the @ (stray dot or character)"
    if not domain.isascii():
        return f"non-ASCII domain {domain!r}: write it in punycode (xn--…)"
    labels = domain.split(".")
    if len(labels) < 2:
        return f"domain {domain!r} has no dot"
    for label in labels:
        if len(label) > MAX_LABEL or not _LABEL.match(label):
            return f"domain {domain!r} is not a valid host name"
    return None


def valid_email(address: str) -> str:
    """The address stripped of surrounding blanks, or InvalidEmail saying why it is refused."""
    address = address.strip()
    problem = email_problem(address)
    if problem is not None:
        raise InvalidEmail(f"{_shown(address)} is refused by the mail provider: {problem}")
    return address


def _shown(address: str, limit: int = 80) -> str:
    """The address quoted for an error message, cut short if someone pasted a novel."""
    return (
        repr(address) if len(address) <= limit else f"{address[:limit]!r}… ({len(address)} chars)"
    )
