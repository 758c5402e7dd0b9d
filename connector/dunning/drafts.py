"""An owner's draft of a step's wording: checked and previewed before it is saved.

Everything that runs the owner's template goes through the limited render pool (time and memory
limits, a separate process): a template bomb fails its own preview or check with a clear reason,
never the web process. The mandatory mentions are checked by rendering the draft on sample
invoices whose values are known (``sample_context``: number, amount, due date, payment link or
instructions, contact, indemnity) and looking for those values in what came out — never by
reading variable names in the source.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import product

from connector.dunning.context import ReminderContext
from connector.dunning.owner_source import Place, compose_source, locate
from connector.dunning.planner import StepSpec
from connector.dunning.render_pool import GuardedRenderer, RenderPool, shared_pool
from connector.dunning.rendering import (
    ReminderRenderer,
    RenderedMessage,
    TemplateError,
    check_syntax,
    message_problems,
    sample_context,
)


class DraftError(ValueError):
    """A draft that cannot be saved: where (subject/body and line) and why."""

    def __init__(self, place: Place, reason: str) -> None:
        self.place = place
        self.reason = reason
        super().__init__(f"{place.describe()}: {reason}")


@dataclass(frozen=True, slots=True)
class Draft:
    language: str
    subject: str
    body: str

    def name(self, step: StepSpec) -> str:
        return f"{self.language}/{step.key}"

    def templates(self, step: StepSpec) -> tuple[tuple[str, str], ...]:
        """The step's templates with this draft in place of its language's."""
        name = self.name(step)
        others = tuple((n, src) for n, src in step.templates if n != name)
        return (*others, (name, compose_source(self.language, self.subject, self.body)))


def _error(draft: Draft, exc: TemplateError) -> DraftError:
    place = locate(draft.subject, exc.line) if exc.line else Place("template", None)
    return DraftError(place, exc.reason)


def render_draft(
    draft: Draft, step: StepSpec, ctx: ReminderContext, pool: RenderPool | None = None
) -> RenderedMessage:
    """Render ``ctx`` (a real or sample invoice) with the draft, in the limited pool."""
    try:
        check_syntax(draft.name(step), compose_source(draft.language, draft.subject, draft.body))
        renderer = GuardedRenderer(ReminderRenderer(), pool or shared_pool())
        return renderer.render(replace(ctx, templates=draft.templates(step)))
    except TemplateError as exc:
        raise _error(draft, exc) from None


def check_draft(draft: Draft, step: StepSpec, pool: RenderPool | None = None) -> None:
    """Refuse a draft that does not compile, breaks a limit, or leaves out a mandatory mention
    (DraftError naming it), trying it for businesses and consumers, one or two invoices, with
    and without a payment link."""
    if not draft.subject.strip():
        raise DraftError(Place("subject", None), "the subject is empty")
    spec = replace(step, templates=draft.templates(step))
    for b2b, count, link in product((True, False), (1, 2), (True, False)):
        ctx = sample_context(spec, draft.language, b2b=b2b, invoices=count, payment_url=link)
        message = render_draft(draft, step, replace(ctx, templates=spec.templates), pool)
        problems = message_problems(ctx, message)
        if problems:
            who = "a business customer" if b2b else "a consumer"
            raise DraftError(Place("template", None), f"{_general(problems[0], ctx)} (to {who})")


def _general(problem: str, ctx: ReminderContext) -> str:
    """A problem found on a sample invoice, said of any invoice (the sample's number would
    only puzzle the owner)."""
    for inv in ctx.invoices:
        problem = problem.replace(f"invoice {inv.number}", "the invoice number")
        problem = problem.replace(f" of {inv.number}", "")
    return problem
