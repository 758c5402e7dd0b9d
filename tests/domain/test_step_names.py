"""Steps and dates as people read them, per language: a shipped step by its name (the design's
"first reminder", the French "premier rappel"), an owner's step by its key; stored sentences
said again with their steps named and their dates in the reader's language."""

from __future__ import annotations

from datetime import UTC, datetime

from connector.domain.dates import instant_words, redate
from connector.domain.phrases import step_name, translate

SHIPPED = {
    "courtesy": ("courtesy reminder", "rappel de courtoisie"),
    "reminder_1": ("first reminder", "premier rappel"),
    "reminder_2": ("second reminder", "deuxième rappel"),
    "reminder_3": ("third reminder", "troisième rappel"),
    "final_warning": ("final warning", "dernier avis avant mise en demeure"),
    "formal_notice": ("formal notice", "courrier de mise en demeure"),
    "thank_you": ("thank-you message", "message de remerciement"),
}


def test_shipped_steps_have_a_name_in_each_language() -> None:
    for key, (english, french) in SHIPPED.items():
        assert step_name(key, "en") == english
        assert step_name(key, "fr_FR") == french
        assert step_name(key.replace("_", " "), "en") == english  # older sentences' spelling


def test_an_owners_step_keeps_the_key_they_gave_it() -> None:
    assert step_name("b2b_call", "en") == "b2b_call"
    assert step_name("b2b_call", "fr") == "b2b_call"


def test_stored_sentences_name_their_steps() -> None:
    stored = "passed while nothing could go out; superseded by reminder_1"
    said = translate(stored, "en")
    assert said == "passed while nothing could go out; superseded by first reminder"
    assert translate("reminder 2 sent now at the owner's request", "en") == (
        "second reminder sent now at the owner's request"
    )
    task = "Invoice F-1: reminder_2 could not go out — change its channel"
    said = translate(task, "en")
    assert said == "Invoice F-1: second reminder could not go out — change its channel"


def test_a_stored_date_is_said_in_the_readers_language() -> None:
    # A French shop's older rows wrote its dates in French inside English sentences.
    stored = "paused until 1er décembre 2026: on holiday"
    assert translate(stored, "en") == "paused until 1 December 2026: on holiday"
    assert translate("paused until 1 December 2026: on holiday", "fr") == (
        "relances suspendues jusqu'au 1er décembre 2026 : on holiday"
    )
    assert redate("due 2026-06-01, then 2 juin 2026", "en") == "due 1 June 2026, then 2 June 2026"


def test_an_instant_is_its_day_written_out_then_the_shops_clock_and_zone() -> None:
    summer = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    winter = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert instant_words(summer, "Europe/Paris", "en") == "1 June 2026, 10:00 CEST"
    assert instant_words(winter, "Europe/Paris", "en") == "1 December 2026, 10:00 CET"
    assert instant_words(winter, "Europe/Paris", "fr") == "1er décembre 2026 à 10:00 CET"
    assert instant_words(datetime(2026, 6, 1, 22, 30, tzinfo=UTC), "Europe/Paris", "en") == (
        "2 June 2026, 00:30 CEST"  # the shop's day, not UTC's
    )
