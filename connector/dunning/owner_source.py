"""The owner's subject and body of a step, as one sandbox template — and back.

The owner edits two fields; the renderer wants one template with the blocks ``subject`` and
``body`` (connector.dunning.rendering). ``compose_source`` joins them in a fixed frame whose
lines are known, so an error on line N of the whole template is reported on the owner's own
line (``locate``). The frame imports the language's shipped macros as ``m`` (English ones for a
language we do not ship), so the owner may keep using ``m.how_to_pay(ctx)`` and the like.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SHIPPED_LANGUAGES = ("fr", "en")
_MACROS_DIR = Path(__file__).with_name("templates")
_BLOCK_RE = {
    part: re.compile(r"{%-?\s*block\s+" + part + r"\s*-?%}\n?(.*?){%-?\s*endblock", re.DOTALL)
    for part in ("subject", "body")
}


def macros_language(language: str) -> str:
    return language if (_MACROS_DIR / language / "_macros.j2").is_file() else "en"


def compose_source(language: str, subject: str, body: str) -> str:
    header = f'{{% import "{macros_language(language)}/_macros" as m %}}'
    return (
        f"{header}{{% block subject %}}\n{_one_end(subject)}{{% endblock %}}"
        f"{{% block body %}}\n{_one_end(body)}{{% endblock %}}\n"
    )


def _one_end(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


@dataclass(frozen=True, slots=True)
class Place:
    field: str  # "subject" | "body" | "template"
    line: int | None

    def describe(self) -> str:
        return f"{self.field}, line {self.line}" if self.line else self.field


def locate(subject: str, line: int | None) -> Place:
    """Where line ``line`` of :func:`compose_source`'s output is in the owner's two fields."""
    if line is None:
        return Place("template", None)
    subject_lines = _one_end(subject).count("\n")
    if line <= 1:
        return Place("subject", 1)
    if line <= 1 + subject_lines:
        return Place("subject", line - 1)
    return Place("body", max(1, line - 2 - subject_lines))


def split_source(source: str) -> tuple[str, str]:
    """The subject and body blocks of a shipped template, as the editor shows them."""
    parts = []
    for part in ("subject", "body"):
        match = _BLOCK_RE[part].search(source)
        parts.append(match.group(1).rstrip("\n") if match else "")
    return parts[0], parts[1]
