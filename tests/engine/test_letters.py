"""Letters to post: the PDF says what the email says, with letterhead and addressee."""

from __future__ import annotations

import contextlib
import re
import zlib

import pytest

from connector.dunning.letters import printable, render_letter
from connector.dunning.rendering import ReminderRenderer, TemplateError, sample_context


def pdf_text(data: bytes) -> str:
    """The text drawn by the PDF's content streams (fpdf2 compresses them with Flate)."""
    chunks: list[str] = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        raw = match.group(1)
        with contextlib.suppress(zlib.error):
            raw = zlib.decompress(raw)
        for text in re.findall(rb"\((.*?)(?<!\\)\)\s*Tj", raw, re.S):
            chunks.append(text.replace(rb"\(", b"(").replace(rb"\)", b")").decode("cp1252"))
    return "\n".join(chunks)


@pytest.mark.parametrize("locale", ["fr", "en"])
@pytest.mark.parametrize("b2b", [True, False])
def test_formal_notice_letter_carries_the_message(locale: str, b2b: bool) -> None:
    ctx = sample_context("formal_notice", locale, b2b=b2b, invoices=2)
    data = render_letter(ctx, ReminderRenderer())
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    for inv in ctx.invoices:
        assert inv.number in text
        assert printable(inv.amount_due).replace("\u00a0", " ") in text.replace("\u00a0", " ")
    assert "Atelier Lumière SARL" in text  # letterhead: the shop's legal name
    assert "SIRET 123 456 789 00012" in text
    assert "Camille Martin" in text and "69006 Lyon" in text  # the addressee block
    heading = "LETTRE RECOMMANDÉE" if locale == "fr" else "REGISTERED LETTER"
    assert heading in text
    assert ("Mise en demeure" if locale == "fr" else "formal notice") in text
    assert ("40,00" in text or "40.00" in text) is b2b  # never an indemnity for a consumer


def test_a_broken_owner_template_fails_the_letter_like_the_email() -> None:
    renderer = ReminderRenderer(
        {
            "fr/final_warning": "{% block subject %}{{ ctx.nope }}{% endblock %}{% block body %}x"
            "{% endblock %}"
        }
    )
    with pytest.raises(TemplateError, match="fr/final_warning"):
        render_letter(sample_context("final_warning", "fr"), renderer)


def test_printable_keeps_french_and_euro_and_transliterates_the_rest() -> None:
    assert printable("1\u202f234,50\u00a0€ – « échéance »") == "1\u00a0234,50\u00a0€ – « échéance »"
    assert printable("Erdős Łódź") == "Erdos ?ódz"  # decomposed where it can, else "?"
    assert printable("😀") == "?"
