"""French elision of « de » and « le » before a name or a word: before a vowel sound (a vowel,
a mute h, an "y" sounded as a vowel) they become « d' » and « l' »."""

from __future__ import annotations

import pytest

from connector.domain.typography import de, le


@pytest.mark.parametrize(
    ("word", "with_de", "with_le"),
    [
        ("Atelier Lenoir", "d'Atelier Lenoir", "l'Atelier Lenoir"),
        ("Éric Roux", "d'Éric Roux", "l'Éric Roux"),
        ("hôtel", "d'hôtel", "l'hôtel"),  # a mute h
        ("Yves", "d'Yves", "l'Yves"),
        ("Dupont", "de Dupont", "le Dupont"),
        ("Yann", "de Yann", "le Yann"),  # a consonant y
        ("héros", "de héros", "le héros"),  # an aspirated h
    ],
)
def test_de_and_le_elide_before_a_vowel_sound(word: str, with_de: str, with_le: str) -> None:
    assert de(word) == with_de
    assert le(word) == with_le
