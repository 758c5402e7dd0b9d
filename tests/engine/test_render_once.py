"""The HTML layout is made of parts remembered per shop and language (its frame) and per value
(each block of text, list or button): a renderer that has made other messages writes the same
bytes as a fresh one, and makes each shop's frame once."""

from __future__ import annotations

from dataclasses import replace

import pytest
from jinja2.environment import Template

from connector.dunning.rendering import LAYOUT, ReminderRenderer
from tests.support.render_samples import BARE_SHOP, varied_contexts


def test_a_renderer_that_made_other_messages_writes_the_same_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    contexts = list(varied_contexts())
    fresh = [ReminderRenderer().render(ctx) for ctx in contexts]
    warm = ReminderRenderer()
    layout = warm._env.get_template(LAYOUT)
    frames: list[object] = []
    render = Template.render

    def counted(self: Template, *args: object, **kwargs: object) -> str:
        if self is layout:
            frames.append(kwargs.get("shop"))
        return render(self, *args, **kwargs)

    monkeypatch.setattr(Template, "render", counted)
    for ctx, expected in zip(reversed(contexts), reversed(fresh), strict=True):
        assert warm.render(ctx) == expected
    for ctx, expected in zip(contexts, fresh, strict=True):
        assert warm.render(ctx) == expected  # the second time, from what it remembered
    shapes = {(ctx.locale, ctx.shop) for ctx in contexts}
    assert len(frames) == len(shapes)  # once per language and shop, not per message
    # A shop whose own words hold the frame's marker: made whole for each message, still true.
    odd = replace(contexts[0], shop=replace(BARE_SHOP, name="A \x00subject\x00 shop"))
    assert warm.render(odd) == ReminderRenderer().render(odd)
    assert warm.render(odd) == ReminderRenderer().render(odd)
