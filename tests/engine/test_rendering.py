"""The reminder renderer and the shipped templates: the domain rules every message keeps
(design §5), HTML escaping, the sandbox owner-edited templates run in, and error reporting."""

from __future__ import annotations

import dataclasses
import re
from html import unescape

import pytest
from markupsafe import escape

from connector.dunning import rendering
from connector.dunning.context import CustomerView, InvoiceView, ReminderContext, ShopView
from connector.dunning.rendering import (
    ReminderRenderer,
    RenderedMessage,
    TemplateError,
    message_problems,
    sample_context,
    sample_spec,
    split_paragraphs,
)
from connector.dunning.sequence import default_step_specs

SEQUENCE = ("courtesy", "reminder_1", "reminder_2", "reminder_3", "final_warning", "formal_notice")
LOCALES = ("fr", "en")

SHIPPED = ReminderRenderer()
#: Steps whose row (in the default sequence) shows penalties.
PENALTY_STEPS = tuple(spec.key for spec in default_step_specs() if spec.show_penalties)


def html_of(value: str) -> str:
    """How a plain value appears in the autoescaped HTML part."""
    return str(escape(value))


def override(body: str, subject: str = "{{ ctx.invoice_numbers }} – {{ shop.name }}") -> str:
    return f"{{% block subject %}}{subject}{{% endblock %}}{{% block body %}}{body}{{% endblock %}}"


def render_override(body: str, *, step: str = "reminder_1", locale: str = "fr") -> RenderedMessage:
    renderer = ReminderRenderer({f"{locale}/{step}": override(body)})
    return renderer.render(sample_context(step, locale))


def hand_built(
    *,
    step: str = "reminder_2",
    locale: str = "en",
    b2b: bool = True,
    customer_name: str = "Jean Dupont",
    shop_name: str = "Boutique Soleil",
    payment_url: str | None = "https://pay.example.net/abc",
    with_penalties: bool = True,
) -> ReminderContext:
    """A context built by hand, as the runner would (independent of sample_context)."""
    invoice = InvoiceView(
        number="INV-7",
        amount_due="€250.00",
        total="€250.00",
        issued_on="1 January 2025",
        due_on="31 January 2025",
        days_late=20,
        payment_url=payment_url,
        interest="€1.66" if with_penalties else None,
        interest_rate="12.15 %" if with_penalties else None,
        indemnity="€40.00" if with_penalties and b2b else None,
        total_with_penalties="€291.66" if with_penalties else None,
    )
    return ReminderContext(
        step=step,
        tone="firm",
        locale=locale,
        today="20 February 2025",
        shop=ShopView(
            name=shop_name,
            contact_email="help@soleil.example",
            contact_phone=None,
            legal_name=None,
            legal_address=None,
            legal_id=None,
            payment_instructions="Bank transfer to IBAN GB00 0000 0000 0000",
        ),
        customer=CustomerView(
            name=customer_name, email="jean@example.org", company=None, is_b2b=b2b
        ),
        invoices=(invoice,),
        total_due="€250.00",
        show_penalties=with_penalties,
    )


# ---------------------------------------------------------------- the rules, every step


@pytest.mark.parametrize("with_link", [True, False], ids=["link", "no-link"])
@pytest.mark.parametrize("count", [1, 2], ids=["one", "two"])
@pytest.mark.parametrize("b2b", [True, False], ids=["b2b", "consumer"])
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("step", SEQUENCE)
def test_every_shipped_message_keeps_the_rules(
    step: str, locale: str, b2b: bool, count: int, with_link: bool
) -> None:
    ctx = sample_context(step, locale, b2b=b2b, invoices=count, payment_url=with_link)
    assert len(ctx.invoices) == count
    message = SHIPPED.render(ctx)
    subject, text, html = message.subject, message.text, message.html

    assert message_problems(ctx, message) == []
    assert "\n" not in subject
    assert ctx.shop.name in subject
    assert html_of(ctx.shop.name) in html
    for part in (text, html):  # greeting, human contact
        assert (ctx.customer.name if part is text else html_of(ctx.customer.name)) in part
        assert ctx.shop.contact_email in part
    for inv in ctx.invoices:
        assert inv.number in subject
        for part in (text, html):
            assert inv.number in part
            assert inv.amount_due in part
            assert inv.due_on in part
        if with_link:
            assert inv.payment_url is not None
            assert inv.payment_url in text
            assert f'href="{inv.payment_url}"' in html
    instructions = ctx.shop.payment_instructions
    assert instructions is not None
    if with_link:
        assert "href=" in html
    else:
        assert instructions in text
        assert html_of(instructions) in html
        assert "pay.example.com" not in text + html

    penalties = sample_spec(step).show_penalties
    indemnity = ctx.invoices[0].indemnity
    if penalties:
        # sample_context carries an indemnity even for a consumer, on purpose.
        assert indemnity is not None
    if penalties and b2b:
        for inv in ctx.invoices:
            assert inv.interest is not None and inv.indemnity is not None
            for part in (text, html):
                assert inv.interest in part
                assert inv.indemnity in part
        label = "Indemnité forfaitaire" if locale == "fr" else "Compensation for recovery costs"
        assert label in html  # the HTML table's indemnity column
    if not b2b:
        for part in (subject, text, html):
            assert "indemnit" not in part.lower()
            if indemnity:
                assert indemnity not in part
        assert ("Indemnité" if locale == "fr" else "indemnity") not in html
    if not penalties:
        # Courtesy and first reminder: no penalty amounts, no penalty columns.
        interest_label = "Intérêts de retard" if locale == "fr" else "Late-payment interest"
        assert interest_label not in html
        for part in (text, html):
            assert "40,00" not in part and "40.00" not in part
            assert "12,15" not in part and "12.15" not in part


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("step", [*SEQUENCE, "thank_you"])
def test_the_shipped_templates_pass_their_own_validation(locale: str, step: str) -> None:
    name = f"{locale}/{step}"
    assert SHIPPED.resolve(locale, step) == name
    SHIPPED.validate(name, SHIPPED.source(name))


@pytest.mark.parametrize("locale", LOCALES)
def test_the_shipped_macros_pass_validation(locale: str) -> None:
    name = f"{locale}/_macros"
    SHIPPED.validate(name, SHIPPED.source(name))


@pytest.mark.parametrize("b2b", [True, False])
def test_a_hand_built_context_renders_the_rules(b2b: bool) -> None:
    ctx = hand_built(b2b=b2b)
    message = SHIPPED.render(ctx)
    assert message_problems(ctx, message) == []
    assert message.subject.startswith("Reminder: invoice INV-7 unpaid")
    assert "Dear Jean Dupont," in message.text
    assert "€250.00" in message.text and "31 January 2025" in message.text
    assert "https://pay.example.net/abc" in message.text
    assert "help@soleil.example" in message.text
    assert "€1.66" in message.text and "€1.66" in message.html
    assert ("€40.00" in message.text) is b2b
    assert ("€40.00" in message.html) is b2b


def test_a_hand_built_consumer_context_with_an_indemnity_never_shows_it() -> None:
    ctx = hand_built(b2b=False)
    inv = dataclasses.replace(ctx.invoices[0], indemnity="€40.00")
    ctx = dataclasses.replace(ctx, invoices=(inv,))
    for step in PENALTY_STEPS:
        message = SHIPPED.render(dataclasses.replace(ctx, step=step))
        for part in (message.subject, message.text, message.html):
            assert "€40.00" not in part
            assert "indemnit" not in part.lower()


@pytest.mark.parametrize("step", ["courtesy", "reminder_1"])
@pytest.mark.parametrize("locale", LOCALES)
def test_early_steps_print_no_penalty_amounts_in_the_text(step: str, locale: str) -> None:
    # Even if penalties slipped into the context, a step whose row does not show them prints none.
    ctx = dataclasses.replace(hand_built(step=step, locale=locale), show_penalties=False)
    message = SHIPPED.render(ctx)
    assert "€1.66" not in message.text
    assert "€40.00" not in message.text
    assert "€291.66" not in message.text


def test_message_problems_spots_a_broken_message() -> None:
    ctx = sample_context("reminder_2", "en", b2b=False, invoices=2)
    good = SHIPPED.render(ctx)
    assert message_problems(ctx, good) == []
    bad = RenderedMessage(
        subject="Reminder", text=good.text + "\nRecovery indemnity: €40.00", html=good.html
    )
    problems = message_problems(ctx, bad)
    assert "the subject must name invoice F-2025-0042" in problems
    assert "the subject must name invoice F-2025-0057" in problems
    assert "the subject must name the shop" in problems
    assert "a consumer message must never mention the recovery indemnity" in problems


# ---------------------------------------------------------------- HTML escaping and links

NASTY = '<script>alert(1)</script> & "Ltd"'


@pytest.mark.parametrize("locale", LOCALES)
def test_names_are_escaped_in_the_html(locale: str) -> None:
    ctx = hand_built(locale=locale, customer_name=NASTY, shop_name=NASTY)
    message = SHIPPED.render(ctx)
    assert NASTY in message.subject  # plain text parts stay as they are
    assert NASTY in message.text
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Ltd&#34;"
    assert escaped in message.html
    assert "<script" not in message.html.lower()
    assert NASTY not in message.html
    assert '"Ltd"' not in message.html


def test_an_owner_template_cannot_inject_html() -> None:
    message = render_override('Dear {{ customer.name }}, <img src=x onerror="alert(1)">')
    assert '<img src=x onerror="alert(1)">' in message.text
    assert "<img" not in message.html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in message.html


def test_only_http_urls_in_the_body_become_links() -> None:
    message = render_override(
        "See https://example.com/terms. Or http://example.org/a?b=1&c=2\n"
        "Not javascript:alert(1) nor data:text/html,<b>x</b> nor ftp://example.com/f"
    )
    html = message.html
    assert '<a href="https://example.com/terms"' in html  # trailing "." left out
    assert '<a href="http://example.org/a?b=1&amp;c=2"' in html
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert all(h.startswith(("https://", "http://", "mailto:")) for h in hrefs), hrefs
    assert "javascript:alert(1)" in html  # shown as text, not as a link
    assert "&lt;b&gt;x&lt;/b&gt;" in html


@pytest.mark.parametrize("count", [1, 2])
def test_a_javascript_payment_url_never_becomes_a_link(count: int) -> None:
    ctx = sample_context("reminder_1", "en", invoices=count)
    first = dataclasses.replace(ctx.invoices[0], payment_url="javascript:alert(1)")
    ctx = dataclasses.replace(ctx, invoices=(first, *ctx.invoices[1:]))
    html = SHIPPED.render(ctx).html
    assert 'href="javascript' not in html.lower()
    assert "Pay online" not in html  # no payment button for it either
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert all(h.startswith(("https://", "mailto:")) for h in hrefs), hrefs


def test_a_single_payment_link_becomes_a_button() -> None:
    ctx = sample_context("courtesy", "fr", invoices=1)
    html = SHIPPED.render(ctx).html
    assert "Régler en ligne" in html
    assert html.count('href="https://pay.example.com/i/F-2025-0042"') == 2  # button + raw link


# ---------------------------------------------------------------- the sandbox


@pytest.mark.parametrize(
    "source",
    [
        "{{ ctx.__class__.__mro__ }}",
        "{{ ''.__class__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__.__globals__['os'] }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ ctx.__class__.__init__.__globals__['__builtins__'] }}",
        "{{ shop.__slots__ }}",
        "{{ (invoices|first).__reduce_ex__(2) }}",
        "{{ self._TemplateReference__context }}",
        "{{ ctx.invoices.__getitem__.__self__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ config }}",
        "{% include '../rendering.py' %}",
        "{% include '/etc/passwd' %}",
        "{% import 'en/../../rendering' as r %}",
    ],
)
def test_owner_templates_cannot_reach_python_internals(source: str) -> None:
    with pytest.raises(TemplateError) as info:
        render_override(source)
    assert info.value.template == "fr/reminder_1"
    for leak in ("<class", "<module", "__builtins__", "import os", "root:"):
        assert leak not in str(info.value)


@pytest.mark.parametrize(
    "source",
    [
        "{{ ctx.extra.update({'x': 'y'}) }}",
        "{{ ctx.extra.setdefault('x', 'y') }}",
        "{{ ctx.extra.__setitem__('x', 'y') }}",
        "{{ ctx.extra.clear() }}",
        "{{ ctx.extra.pop('keep') }}",
        "{{ ctx.__setattr__('step', 'x') }}",
        "{% set ns = ctx.invoices|list %}{{ ns.append(1) }}",
        "{{ shop.__init__('x') }}",
    ],
)
def test_owner_templates_cannot_mutate_the_context(source: str) -> None:
    renderer = ReminderRenderer({"fr/reminder_1": override(source)})
    ctx = dataclasses.replace(sample_context("reminder_1", "fr"), extra={"keep": "me"})
    before = dataclasses.replace(ctx, extra=dict(ctx.extra))
    with pytest.raises(TemplateError):
        renderer.render(ctx)
    assert ctx == before
    assert ctx.extra == {"keep": "me"}


def test_a_set_in_a_template_only_shadows_the_context_locally() -> None:
    ctx = sample_context("reminder_1", "fr")
    renderer = ReminderRenderer({"fr/reminder_1": override("{% set ctx = 1 %}{{ ctx }}")})
    renderer.render(ctx)
    assert ctx.step == "reminder_1" and ctx.invoices[0].number == "F-2025-0042"


WIDTH = rendering._MAX_WIDTH
POWER = rendering._MAX_POWER
OUTPUT = rendering._MAX_OUTPUT


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x' * 10**9 }}",
        "{{ 10**9 * 'x' }}",
        f"{{{{ 'x' * {WIDTH * 100 + 100} }}}}",
        "{{ ['x'] * 10**9 }}",
        "{{ (['x' * 100000] * 100000)|join|length }}",
        "{% for i in range(10**9) %}x{% endfor %}",
        "{{ range(10**9)|list|length }}",
        "{{ 2 ** (10**9) }}",
        f"{{{{ 2 ** {POWER + 1} }}}}",
        "{{ (9 ** 10000) ** 10000 }}",
        "{% set a = 2 ** 10000 %}" + "{% set a = a * a %}" * 12 + "{{ a.bit_length() }}",
        f"{{{{ 'x'|center({WIDTH + 1}) }}}}",
        "{{ 'x'|indent(10**9) }}",
        "{{ 'x'|wordwrap(10**9) }}",
        "{{ 'x'|truncate(10**9) }}",
        "{{ '%*s'|format(10**9, 'x') }}",
        "{{ '%1000000000s'|format('x') }}",
        "{{ '%*s' % (10**9, 'x') }}",
        "{{ '%1000000000s' % 'x' }}",
        "{{ '%.1000000000f' % 1.5 }}",
        "{{ 'x'.ljust(10**9) }}",
        "{{ 'x'.rjust(10**9) }}",
        "{{ 'x'.center(10**9) }}",
        "{{ 'x'.zfill(10**9) }}",
        "{{ '\\t'.expandtabs(10**9) }}",
        "{{ '{:>1000000000}'.format('x') }}",
        "{{ '{:>{w}}'.format('x', w=10**9) }}",
        "{{ '{w:>{w}}'.format_map({'w': 10**9}) }}",
        "{{ '{:.1000000000f}'.format(1.5) }}",
        "{% set a = 'x' * 100000 %}" + "{% set a = a ~ a %}" * 30 + "{{ a|length }}",
        "{% set a = 'x' * 100000 %}" + "{% set a = a + a %}" * 30 + "{{ a|length }}",
        "{% set a = ['x' * 100000] %}" + "{% set a = a + a %}" * 30 + "{{ a|length }}",
        "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    ],
)
def test_owner_templates_cannot_blow_up_memory(source: str) -> None:
    with pytest.raises(TemplateError) as info:
        render_override(source)
    assert info.value.template == "fr/reminder_1"
    # Refused by a guard up front, not by running out of memory.
    assert not isinstance(info.value.__cause__, MemoryError)
    assert re.search(r"larger than|too large|longer than|Range too big", info.value.reason)


@pytest.mark.parametrize(
    ("source", "length"),
    [
        (f"{{{{ 'x' * {WIDTH * 100} }}}}", WIDTH * 100),
        (f"{{{{ 'x'|center({WIDTH}) }}}}|", WIDTH + 1),
        (f"{{{{ 'x'.ljust({WIDTH}) }}}}|", WIDTH + 1),
        (f"{{{{ '{{:>{WIDTH}}}'.format('x') }}}}|", WIDTH + 1),
        (f"{{{{ '%{WIDTH}s' % 'x' }}}}|", WIDTH + 1),
        (f"{{{{ (2 ** {POWER})|string|length }}}}", len(str(len(str(2**POWER))))),
        ("{{ '{} days late'.format(1500) }}", len("1500 days late")),
    ],
)
def test_reasonable_template_code_stays_allowed(source: str, length: int) -> None:
    message = render_override(source)
    assert len(message.text) == length


def test_output_is_capped() -> None:
    # Each piece is allowed; the whole output is not.
    pieces = OUTPUT // (WIDTH * 100) + 1
    with pytest.raises(TemplateError, match="output longer than"):
        render_override(
            f"{{% for i in range({pieces}) %}}{{{{ 'x' * {WIDTH * 100} }}}}{{% endfor %}}"
        )
    # Just under the cap (the root pass renders subject and body together) is fine.
    under = OUTPUT // 1000 - 1
    message = render_override(f"{{% for i in range({under}) %}}{{{{ 'x' * 1000 }}}}{{% endfor %}}")
    assert len(message.text) == under * 1000


def test_the_subject_output_is_capped_too() -> None:
    renderer = ReminderRenderer(
        {"fr/reminder_1": override("x", subject="{% for i in range(100000) %}yyy{% endfor %}")}
    )
    with pytest.raises(TemplateError, match="output longer than"):
        renderer.render(sample_context("reminder_1", "fr"))


def test_lipsum_is_not_available() -> None:
    with pytest.raises(TemplateError, match="lipsum"):
        render_override("{{ lipsum(10**6) }}")


# ---------------------------------------------------------------- errors and validation


def test_a_syntax_error_names_the_template_and_the_line() -> None:
    source = override("Bonjour {{ customer.name }},\n\n{% if %}\n")
    renderer = ReminderRenderer({"fr/reminder_1": source})
    with pytest.raises(TemplateError) as info:
        renderer.render(sample_context("reminder_1", "fr"))
    assert info.value.template == "fr/reminder_1"
    assert info.value.line == 3
    assert "fr/reminder_1" in str(info.value) and "line 3" in str(info.value)

    with pytest.raises(TemplateError) as again:
        SHIPPED.validate("fr/reminder_1", source)
    assert again.value.template == "fr/reminder_1"
    assert again.value.line == 3


def test_a_runtime_error_names_the_template_and_the_line() -> None:
    source = override("Bonjour {{ customer.name }},\n{{ ctx.no_such_field }}\n")
    with pytest.raises(TemplateError) as info:
        ReminderRenderer({"en/reminder_3": source}).render(sample_context("reminder_3", "en"))
    assert info.value.template == "en/reminder_3"
    assert info.value.line == 2
    assert "no_such_field" in str(info.value)


def test_an_error_in_a_shared_partial_names_the_partial() -> None:
    renderer = ReminderRenderer(
        {"fr/_macros": "{% macro greeting(ctx) %}\n{{ nope }}{% endmacro %}"}
    )
    with pytest.raises(TemplateError) as info:
        renderer.render(sample_context("courtesy", "fr"))
    assert info.value.template == "fr/_macros"


def test_validate_refuses_a_subject_without_the_invoice_number() -> None:
    source = SHIPPED.source("fr/reminder_1").replace("{{ ctx.invoice_numbers }}", "")
    assert source != SHIPPED.source("fr/reminder_1")
    with pytest.raises(TemplateError, match="the subject must name invoice F-2025-0042") as info:
        SHIPPED.validate("fr/reminder_1", source)
    assert info.value.template == "fr/reminder_1"


def test_validate_refuses_an_indemnity_for_consumers() -> None:
    original = SHIPPED.source("en/reminder_2")
    source = original.replace(
        "{{ m.penalty_notice(ctx) }}",
        "{{ m.penalty_notice(ctx) }}\n\nRecovery costs: {{ ctx.invoices[0].indemnity }}",
    )
    assert source != original
    with pytest.raises(TemplateError, match="consumer message must never mention the recovery"):
        SHIPPED.validate("en/reminder_2", source)


def test_validate_refuses_a_broken_shared_partial() -> None:
    source = SHIPPED.source("fr/_macros").replace(
        "{% if penalties and ctx.customer.is_b2b and inv.indemnity %}",
        "{% if penalties and inv.indemnity %}",
    )
    assert source != SHIPPED.source("fr/_macros")
    with pytest.raises(TemplateError, match="consumer message must never mention"):
        SHIPPED.validate("fr/_macros", source)


def test_validate_refuses_a_bad_name() -> None:
    with pytest.raises(TemplateError, match="not a template name"):
        SHIPPED.validate("../fr/reminder_1", override("x"))
    with pytest.raises(ValueError, match="not a template name"):
        ReminderRenderer({"fr/../../etc": "x"})


@pytest.mark.parametrize("missing", ["subject", "body"])
def test_a_missing_block_is_an_error(missing: str) -> None:
    blocks = {"subject": "{{ ctx.invoice_numbers }}", "body": "Bonjour"}
    source = "".join(
        f"{{% block {name} %}}{text}{{% endblock %}}"
        for name, text in blocks.items()
        if name != missing
    )
    renderer = ReminderRenderer({"fr/reminder_1": source})
    with pytest.raises(TemplateError, match=f"missing block '{missing}'") as info:
        renderer.render(sample_context("reminder_1", "fr"))
    assert info.value.template == "fr/reminder_1"


def test_an_empty_subject_is_an_error() -> None:
    renderer = ReminderRenderer({"fr/reminder_1": override("Bonjour", subject="  ")})
    with pytest.raises(TemplateError, match="subject is empty"):
        renderer.render(sample_context("reminder_1", "fr"))


# ---------------------------------------------------------------- locales


@pytest.mark.parametrize("locale", ["de", "es_ES", "", "xx-YY"])
def test_an_unknown_locale_falls_back_to_english(locale: str) -> None:
    assert SHIPPED.resolve(locale, "reminder_1") == "en/reminder_1"
    ctx = dataclasses.replace(sample_context("reminder_1", "en"), locale=locale)
    message = SHIPPED.render(ctx)
    assert message.subject == "Invoice F-2025-0042 awaiting payment – Atelier Lumière"
    assert message.text.startswith("For the attention of Camille Martin, Martin & Fils")
    assert '<html lang="' in message.html


@pytest.mark.parametrize("locale", ["fr", "fr_FR", "fr-BE", "FR", "fr_CA"])
def test_regional_french_locales_resolve_to_french(locale: str) -> None:
    assert SHIPPED.resolve(locale, "reminder_2") == "fr/reminder_2"
    ctx = dataclasses.replace(sample_context("reminder_2", "fr"), locale=locale)
    message = SHIPPED.render(ctx)
    assert message.subject.startswith("Relance\u00a0: facture F-2025-0042 impayée")
    assert message.text.startswith("À l'attention de Camille Martin, Martin & Fils")
    assert '<html lang="fr">' in message.html
    assert "Indemnité forfaitaire" in message.html


def test_an_override_only_in_french_does_not_leak_into_english() -> None:
    renderer = ReminderRenderer({"fr/reminder_1": override("Bonjour {{ customer.name }}")})
    assert renderer.render(sample_context("reminder_1", "en")) == SHIPPED.render(
        sample_context("reminder_1", "en")
    )


def test_an_owner_only_step_falls_back_to_english_and_is_listed() -> None:
    renderer = ReminderRenderer({"en/gentle_nudge": override("Hi {{ customer.name }}")})
    assert renderer.resolve("fr", "gentle_nudge") == "en/gentle_nudge"
    assert renderer.available_steps()[-1] == "gentle_nudge"
    assert renderer.available_steps()[: len(SEQUENCE)] == SEQUENCE
    with pytest.raises(TemplateError, match="no template for step"):
        SHIPPED.resolve("fr", "gentle_nudge")


# ---------------------------------------------------------------- split_paragraphs


@pytest.mark.parametrize("b2b", [True, False])
@pytest.mark.parametrize("count", [1, 2])
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("step", SEQUENCE)
def test_split_paragraphs_finds_the_invoice_list(
    step: str, locale: str, count: int, b2b: bool
) -> None:
    ctx = sample_context(step, locale, b2b=b2b, invoices=count, payment_url=False)
    numbers = tuple(inv.number for inv in ctx.invoices)
    paragraphs = split_paragraphs(SHIPPED.render(ctx).text, numbers)
    found = [p for p in paragraphs if p.kind == "invoices"]
    assert len(found) == 1
    listed = "\n".join(found[0].lines)
    for inv in ctx.invoices:
        assert inv.number in listed and inv.amount_due in listed
    assert sum(line.startswith("- ") for line in found[0].lines) == count
    assert paragraphs[0].kind == "text"  # the greeting


def test_split_paragraphs_kinds() -> None:
    text = (
        "Dear Ann,\n\n"
        "- A-1 only\n\n"
        "- A-1 €10\n  detail\n- A-2 €20\n\n"
        "- A-1 and A-2 again\n\n"
        "Not a list\n- mixed"
    )
    paragraphs = split_paragraphs(text, ("A-1", "A-2"))
    assert [p.kind for p in paragraphs] == ["text", "list", "invoices", "list", "text"]
    assert paragraphs[2].lines == ("- A-1 €10", "  detail", "- A-2 €20")
    assert split_paragraphs("\n\n\n\n", ("A-1",)) == ()


# ---------------------------------------------------------------- issue 9: legal and tone

STEPS_WITH_THANKS = (*SEQUENCE, "thank_you")
#: Literal French punctuation that wants a no-break space before it (domain.typography).
PLAIN_SPACE_BEFORE_MARK = re.compile(r"[^\S\u00a0\u202f][;!?%:]|«[^\S\u00a0]|[^\S\u00a0]»")


def french_words_of(ctx: ReminderContext, text: str) -> str:
    """The message's own words: the values it prints verbatim (the owner's text) taken out."""
    for value in (ctx.shop.payment_instructions, ctx.shop.consumer_mediator):
        if value:
            text = text.replace(value, "")
    return text


@pytest.mark.parametrize("earlier", [0, 2], ids=["first-message", "after-reminders"])
@pytest.mark.parametrize("with_link", [True, False], ids=["link", "no-link"])
@pytest.mark.parametrize("b2b", [True, False], ids=["b2b", "consumer"])
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("step", STEPS_WITH_THANKS)
def test_every_message_is_actionable_true_and_well_written(
    step: str, locale: str, b2b: bool, with_link: bool, earlier: int
) -> None:
    ctx = sample_context(step, locale, b2b=b2b, payment_url=with_link, earlier=earlier)
    message = SHIPPED.render(ctx)
    subject, text, html = message.subject, message.text, message.html
    lowered = text.lower()
    asks_payment = sample_spec(step).asks_payment
    fr = locale == "fr"

    # 4. How to pay, in every payment message; no "write to us to arrange payment".
    if asks_payment:
        way = ctx.invoices[0].payment_url if with_link else ctx.shop.payment_instructions
        assert way is not None and way in text
    for phrase in ("merci de nous écrire", "please write to us at", "pour convenir des modalit"):
        assert phrase not in lowered

    # 5. A named person to reach, with email and phone, in the text and the HTML footer.
    contact = f"{'Votre contact' if fr else 'Your contact'}\u00a0:" if fr else "Your contact:"
    assert f"{contact} Claire Dubois – {ctx.shop.contact_email} – {ctx.shop.contact_phone}" in text
    assert "Claire Dubois" in html
    # ... and the creditor's identification in every email (R123-237 Code de commerce).
    for part in (text, html):
        assert "Atelier Lumière SARL" in part and "SIREN 123 456 789" in part
        assert "RCS Paris" in part and "12 rue des Lilas, 75011 Paris" in part

    # 6. Nothing about the past that may be false.
    for phrase in ("restées sans effet", "restés sans effet", "gone unanswered", "sans réponse"):
        assert phrase not in lowered
    if earlier == 0:
        assert "malgré" not in lowered and "despite" not in lowered
    elif step in ("reminder_2", "reminder_3", "final_warning", "formal_notice"):
        for day in ctx.earlier_reminders:
            assert day in text

    # 7. No terms and conditions cited: the shop has not confirmed it has them.
    for phrase in ("conditions générales", "terms and conditions"):
        assert phrase not in lowered

    # 8. Only the final warning calls itself the last; the third reminder threatens nothing.
    for phrase in ("dernier rappel", "last friendly", "last reminder"):
        assert phrase not in f"{subject}\n{text}".lower()
    if step != "final_warning":
        assert "dernier avertissement" not in lowered and "final warning" not in lowered
    if step in ("courtesy", "reminder_1", "reminder_2", "reminder_3"):
        assert "procédure" not in lowered and "proceedings" not in lowered

    # 9. Consumers are told of their mediator (L616-1 Code de la consommation); businesses not.
    assert (ctx.shop.consumer_mediator in text) is not b2b  # type: ignore[operator]
    assert ("L616-1" in text) is not b2b

    # 13. French typography; the greeting fits the customer; one colon in the subject.
    greeting = text.split("\n\n")[0]
    if b2b:
        assert greeting.endswith("Madame, Monsieur," if fr else "Dear Sir or Madam,")
        assert "Camille Martin, Martin & Fils" in greeting
    elif step in ("final_warning", "formal_notice") and fr:
        assert greeting.endswith("Madame, Monsieur,")
    else:
        assert greeting == ("Bonjour Camille Martin," if fr else "Dear Camille Martin,")
    assert "::" not in subject and subject.count(":") <= 1
    if fr:
        for part in (subject, french_words_of(ctx, text)):
            found = PLAIN_SPACE_BEFORE_MARK.findall(part)
            assert found == [], (found, part)
        if ctx.show_penalties and b2b:
            assert "12,15\u202f%" in text

    # 14. English wording.
    if not fr:
        assert "Any questions" in text
        assert "penalt" not in lowered  # one name: late-payment interest
        assert " served " not in lowered
        if ctx.show_penalties and b2b:
            assert "12.15%" in text and "12.15 %" not in text
            assert "fixed compensation for recovery costs (EUR 40)" in text
            assert "Late-payment interest at the annual rate of 12.15%" in text
        if b2b and step in ("final_warning", "formal_notice"):
            assert "Yours faithfully," in text


@pytest.mark.parametrize("b2b", [True, False], ids=["b2b", "consumer"])
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("step", [s for s in PENALTY_STEPS if s != "formal_notice"])
def test_terms_and_conditions_are_cited_only_when_the_shop_has_them(
    step: str, locale: str, b2b: bool
) -> None:
    ctx = sample_context(step, locale, b2b=b2b)
    if not b2b:  # a consumer owes interest only at a contractual rate: the shop has one here
        inv = dataclasses.replace(ctx.invoices[0], interest="4,61 €")
        shop = dataclasses.replace(ctx.shop, consumer_rate="8 %")
        ctx = dataclasses.replace(ctx, invoices=(inv,), shop=shop)
    with_terms = dataclasses.replace(
        ctx, shop=dataclasses.replace(ctx.shop, has_terms_and_conditions=True)
    )
    phrase = "conditions générales de vente" if locale == "fr" else "terms and conditions"
    assert phrase not in SHIPPED.render(ctx).text
    # The penalty notice cites them (beside article L441-10 for businesses) once confirmed.
    cited = SHIPPED.render(with_terms)
    assert phrase in cited.text
    assert message_problems(with_terms, cited) == []
    assert message_problems(ctx, cited) != []  # cited but not confirmed: refused


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("rate", [None, "8\u202f%"], ids=["legal-rate", "contractual-rate"])
def test_a_consumer_notice_claims_one_rate_never_both(locale: str, rate: str | None) -> None:
    ctx = sample_context("formal_notice", locale, b2b=False)
    shown = "8%" if rate and locale == "en" else rate
    ctx = dataclasses.replace(ctx, shop=dataclasses.replace(ctx.shop, consumer_rate=shown))
    text = SHIPPED.render(ctx).text
    legal = ("1231-6" in text, ("taux légal" if locale == "fr" else "statutory rate") in text)
    contractual = ("taux contractuel" if locale == "fr" else "contractual rate") in text
    if rate is None:
        assert legal == (True, True) and not contractual
    else:
        assert legal == (False, False) and contractual and shown in text


@pytest.mark.parametrize("locale", LOCALES)
def test_without_a_contact_name_the_shop_is_the_contact(locale: str) -> None:
    ctx = sample_context("reminder_1", locale, b2b=False)
    ctx = dataclasses.replace(ctx, shop=dataclasses.replace(ctx.shop, contact_name=None))
    message = SHIPPED.render(ctx)
    assert message_problems(ctx, message) == []
    label = "Votre contact\u00a0:" if locale == "fr" else "Your contact:"
    assert f"{label} Atelier Lumière – contact@atelier-lumiere.example" in message.text


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("step", ["final_warning", "formal_notice"])
def test_formal_messages_are_signed_by_the_named_signatory(step: str, locale: str) -> None:
    text = SHIPPED.render(sample_context(step, locale)).text
    assert "Claire Dubois, Gérante\nAtelier Lumière SARL" in text


def test_validation_refuses_a_payment_message_that_cannot_say_how_to_pay() -> None:
    ctx = sample_context("reminder_1", "en", payment_url=False)
    ctx = dataclasses.replace(ctx, shop=dataclasses.replace(ctx.shop, payment_instructions=None))
    problems = message_problems(ctx, SHIPPED.render(ctx))
    assert "no way to pay F-2025-0042: no link, no instructions" in problems


@pytest.mark.parametrize(
    ("name", "greeting"),
    [
        ("Atelier Lenoir SARL", "À l'attention d'Atelier Lenoir SARL"),
        ("Hélène Roux", "À l'attention d'Hélène Roux"),
        ("Camille Martin", "À l'attention de Camille Martin"),
        ("Hollande Négoce", "À l'attention de Hollande Négoce"),  # an aspirated h
    ],
)
def test_a_french_greeting_elides_de_before_a_vowel_sound(name: str, greeting: str) -> None:
    ctx = sample_context("reminder_2", "fr")
    customer = dataclasses.replace(ctx.customer, name=name, company=None, is_company=True)
    message = SHIPPED.render(dataclasses.replace(ctx, customer=customer))
    assert message.text.startswith(greeting + "\n"), message.text[:80]
    assert greeting in unescape(message.html)  # the name is escaped, its elision too
