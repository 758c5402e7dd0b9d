"""The one address check: what the mail provider refuses never enters (test_prism holds the
provider's side of the agreement)."""

from __future__ import annotations

import pytest

from connector.domain.email import InvalidEmail, email_problem, valid_email


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("jéan@exemple.fr", "non-ASCII character 'é' before the @"),
        ("claire@exemple", "has no dot"),
        ("claire dupont@example.com", "space"),
        ("claire@café.fr", "punycode"),
        ("c" * 65 + "@example.com", "more than 64 characters before the @"),
        ("c@" + "d" * 250 + ".fr", "longer than 254 characters"),
        ("claire@exa\x00mple.com", "control character"),
    ],
)
def test_refused_with_the_reason(address: str, reason: str) -> None:
    assert reason in (email_problem(address) or "")
    with pytest.raises(InvalidEmail, match="refused by the mail provider"):
        valid_email(address)


def test_accepted_address_comes_back_stripped() -> None:
    assert valid_email("  claire@xn--caf-dma.fr ") == "claire@xn--caf-dma.fr"


def test_a_pasted_novel_is_not_echoed_whole() -> None:
    with pytest.raises(InvalidEmail) as caught:
        valid_email("x" * 100_000)
    assert len(str(caught.value)) < 200
