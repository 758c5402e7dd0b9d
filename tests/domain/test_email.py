"""The one address check: what the mail provider refuses never enters (test_prism holds the
provider's side of the agreement)."""

from __future__ import annotations

import random

import pytest

from connector.domain.email import InvalidEmail, _refusal, email_problem, valid_email


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


def _near_miss(rng: random.Random) -> str:
    """Addresses built from valid parts, then maybe broken in one place (a stray dot, a space,
    an accent, an over-long part, a second @, a trailing newline…)."""
    atoms = ["claire", "c.d", "x+tag", "o'neil", "a_b", "9", "#!", "é", "", " ", "a\n"]
    labels = ["example", "xn--caf-dma", "a-b", "-ab", "ab-", "a" * 63, "a" * 64, "café", "", "fr"]
    local = ".".join(rng.choice(atoms) for _ in range(rng.randint(1, 3)))
    if rng.random() < 0.1:
        local = "l" * rng.choice([63, 64, 65])
    domain = ".".join(rng.choice(labels) for _ in range(rng.randint(1, 4)))
    address = f"{local}@{domain}"
    if rng.random() < 0.1:
        address += rng.choice(["\n", "@x.fr", " ", "\x00"])
    return address


def test_the_one_match_check_refuses_exactly_what_the_rules_refuse() -> None:
    """email_problem answers most addresses with one regular expression; what it accepts must
    be what the rule-by-rule check accepts (and a refusal still says why)."""
    rng = random.Random(7)
    accepted = 0
    for _ in range(20_000):
        address = _near_miss(rng)
        assert email_problem(address) == _refusal(address), address
        accepted += email_problem(address) is None
    assert 500 < accepted < 19_000  # both sides of the line were exercised
