"""Reminder rendering: per-step, per-language Jinja templates run in a sandbox.

A template ``<locale>/<step>`` (files under ``templates/``, or owner-edited source passed as
``overrides``) defines two blocks, ``subject`` and ``body`` (plain text). The body is also
rendered into mail-client-safe HTML by ``layout.html``, the only autoescaped template. Templates
see ``ctx`` (a :class:`ReminderContext`) and the shortcuts ``shop``, ``customer`` and
``invoices``; they never touch the filesystem beyond the loader, nor Python internals. The
shipped templates' compiled code may be kept on disk for the next process
(``keep_compiled_templates``); an owner's templates are compiled in their own sandbox, never kept.
"""

from __future__ import annotations

import re
import string
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from functools import cache, lru_cache
from itertools import product
from pathlib import Path
from types import BuiltinMethodType, MethodType, TracebackType
from typing import Any, Literal, TypeVar, cast

from babel.numbers import format_currency
from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound, TemplateSyntaxError
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Template
from jinja2.exceptions import SecurityError
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream
from jinja2.nodes import Concat
from jinja2.runtime import Context, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from connector.domain import typography
from connector.domain.dates import BABEL_LOCALES, language_of, long_date
from connector.domain.typography import NARROW_NBSP, de, french_typography, le, percent
from connector.dunning.context import CustomerView, InvoiceView, ReminderContext, ShopView
from connector.dunning.payment_ways import is_web_url
from connector.dunning.planner import StepSpec
from connector.dunning.sequence import THANK_YOU_STEP, default_step_specs
from connector.dunning.template_cache import CompiledTemplates, fingerprint
from connector.store.models import Channel

#: The shipped templates' steps, in the default sequence's order, then the thank-you note.
STEPS: tuple[str, ...] = (*(spec.key for spec in default_step_specs()), THANK_YOU_STEP.key)
DEFAULT_LOCALE = "en"
LAYOUT = "layout.html"
LAYOUT_BLOCKS = "layout_blocks.html"  # the macros making each block of the layout
_LAYOUTS = frozenset({LAYOUT, LAYOUT_BLOCKS})
TEMPLATES_DIR = Path(__file__).with_name("templates")

_NAME_RE = re.compile(r"^(?P<locale>[a-z]{2})/(?P<step>_?[a-z][a-z0-9_]*)$")
_URL_RE = re.compile(r"https?://[^\s<>\"']+")
_URL_TRAIL = ".,;:!?)]"
_MAX_OUTPUT = 200_000  # characters per rendered template
_MAX_WIDTH = 1_000  # padding / repetition a template may ask for
_MAX_POWER = 10_000
_MAX_BITS = 1_000_000  # size of an integer a template may compute
#: str methods whose integer arguments are widths (bounded like the ``center`` filter).
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_PERCENT_SPEC_RE = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\d*)(?:\.(\d*))?")
_MAX_REMEMBERED = 4_096  # attribute verdicts a sandbox keeps
_METHODS = (MethodType, BuiltinMethodType)  # what may be a str.format in disguise
_DICT_ATTRIBUTES = frozenset(dir(dict))


# ---------------------------------------------------------------- public types


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str


class TemplateError(Exception):
    """A template failed to compile or to render; names the template and, if known, the line."""

    def __init__(self, template: str, line: int | None, message: str) -> None:
        self.template = template
        self.line = line
        self.reason = message
        where = f"template {template}, line {line}" if line else f"template {template}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Paragraph:
    """One block of a plain-text body, as the HTML layout and the PDF letter see it.

    ``invoices``: the bulleted list naming every invoice (shown as a table);
    ``list``: another bulleted list; ``text``: ordinary lines.
    """

    kind: Literal["text", "list", "invoices"]
    lines: tuple[str, ...]


def split_paragraphs(text: str, invoice_numbers: tuple[str, ...]) -> tuple[Paragraph, ...]:
    """Split a tidy body into paragraphs; spot the invoice list (first bullet list naming all)."""
    out: list[Paragraph] = []
    found = False
    for chunk in text.split("\n\n"):
        lines = tuple(line for line in chunk.split("\n") if line.strip())
        if not lines:
            continue
        bullets = lines[0].startswith("- ") and all(ln.startswith(("- ", "  ")) for ln in lines)
        if bullets and not found and all(num in chunk for num in invoice_numbers):
            out.append(Paragraph("invoices", lines))
            found = True
        elif bullets:
            out.append(Paragraph("list", lines))
        else:
            out.append(Paragraph("text", lines))
    return tuple(out)


def template_name(locale: str, step: str) -> str:
    """The template name for a locale ("fr", "fr_FR", "fr-BE" → "fr") and a step."""
    return f"{language(locale)}/{step}"


def language(locale: str) -> str:
    """The two-letter language of a locale string, lower-cased."""
    return language_of(locale)


def tidy_text(text: str) -> str:
    """Strip trailing spaces, collapse runs of blank lines, trim the ends."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def tidy_subject(text: str) -> str:
    """One line, whitespace collapsed (no-break spaces are typography: they stay)."""
    return re.sub(r"[ \t\r\n\f\v]+", " ", text).strip()


# ---------------------------------------------------------------- the sandbox


class _Loader(BaseLoader):
    """Owner overrides first, then the shipped files; only well-formed names, no paths."""

    def __init__(self, overrides: Mapping[str, str]) -> None:
        self._overrides = dict(overrides)

    @staticmethod
    @lru_cache(maxsize=1_024)
    def shipped_path(name: str) -> Path | None:
        """Remembered: the shipped files never change while the process runs (as the
        compiled templates, see ``_shipped_env``), and each render asks which one it uses."""
        if name not in _LAYOUTS and not _NAME_RE.match(name):
            return None
        path = TEMPLATES_DIR / f"{name}.j2"
        return path if path.is_file() else None

    def get_source(
        self, environment: Any, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        if template in self._overrides:
            return self._overrides[template], template, lambda: True
        path = self.shipped_path(template)
        if path is None:
            raise TemplateNotFound(template)
        return path.read_text(encoding="utf-8"), template, lambda: True

    def has(self, name: str) -> bool:
        return name in self._overrides or self.shipped_path(name) is not None

    def list_templates(self) -> list[str]:
        shipped = {
            str(p.relative_to(TEMPLATES_DIR).with_suffix("")) for p in TEMPLATES_DIR.rglob("*.j2")
        }
        return sorted(shipped | set(self._overrides))


def _check_width(value: Any) -> None:
    if isinstance(value, int) and value > _MAX_WIDTH:
        raise SecurityError(f"width {value} is larger than the allowed {_MAX_WIDTH}")


def _check_spec(fmt: Any, braces: bool) -> None:
    """Widths and precisions written in a format string ("%999999s", "{:>999999}")."""
    if not isinstance(fmt, str):
        return
    if braces:
        specs = [spec or "" for _, _, spec, _ in string.Formatter().parse(fmt)]
        numbers = [n for spec in specs for n in re.findall(r"\d+", spec)]
    else:
        numbers = [n for m in _PERCENT_SPEC_RE.finditer(fmt) for n in m.groups() if n]
    for number in numbers:
        _check_width(int(number))


def _size(value: Any) -> int:
    """Roughly how many characters a value stands for (lists count their items' sizes)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple):
        return len(value) + sum(_size(item) for item in value)
    return 1


def _check_bits(value: Any) -> None:
    if isinstance(value, int) and value.bit_length() > _MAX_BITS:
        raise SecurityError(f"number larger than {_MAX_BITS} bits")


def _bounded(filter_func: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(value: Any, *args: Any, **kwargs: Any) -> Any:
        for arg in (*args, *kwargs.values()):
            _check_width(arg)
        if filter_func.__name__ == "do_format":
            _check_spec(value, braces=False)
        return filter_func(value, *args, **kwargs)

    return wrapper


class _CodeGenerator(CodeGenerator):
    """Routes ``~`` through :meth:`_Sandbox.bounded_concat` (doubling a string is cheap)."""

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat(")
        super().visit_Concat(node, frame)
        self.write(")")


class _Sandbox(ImmutableSandboxedEnvironment):
    """Immutable sandbox that also refuses the cheap ways to exhaust memory."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _CodeGenerator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._safe_attributes: dict[tuple[type, str], bool] = {}

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``obj.attribute`` as Jinja's sandbox answers it, without asking again what was
        already judged safe for this type (the value is still checked for ``str.format``).
        A plain dict's key that is no dict attribute (``block.kind``) is its item, returned
        unchecked, as Jinja returns it once the attribute lookup has failed (raising and
        catching that AttributeError was a good part of the HTML layout's cost)."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        if self._safe_attributes.get((type(obj), attribute)):
            try:
                value = getattr(obj, attribute)
            except AttributeError:
                pass
            else:
                if not isinstance(value, _METHODS):
                    return value
        return super().getattr(obj, attribute)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """Jinja's verdict, remembered per (type, attribute): it depends on nothing else (the
        attribute's name and the object's type, ABCs included), and asking it was most of a
        render's CPU (a reminder reads ~200 attributes)."""
        key = (type(obj), attr)
        safe = self._safe_attributes.get(key)
        if safe is None:
            safe = super().is_safe_attribute(obj, attr, value)
            if len(self._safe_attributes) >= _MAX_REMEMBERED:
                self._safe_attributes.clear()  # owner templates may name anything: stay small
            self._safe_attributes[key] = safe
        return safe

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(count, int):
                    _check_width(count * max(_size(seq), 1) // 100)
        elif operator == "**" and isinstance(right, int | float) and abs(right) > _MAX_POWER:
            raise SecurityError(f"exponent {right} is too large")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if left.bit_length() * abs(right) > _MAX_BITS:
                raise SecurityError(f"number larger than {_MAX_BITS} bits")
        elif operator == "%" and isinstance(left, str):
            _check_spec(left, braces=False)
            args = right if isinstance(right, tuple) else (right,)
            for arg in args:
                _check_width(arg)
        elif operator == "+" and isinstance(left, str | list | tuple):
            _check_width((_size(left) + _size(right)) // 200)
        result = super().call_binop(context, operator, left, right)
        _check_bits(result)
        return result

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """A template's own macro (``m.greeting(ctx)``, ~10 a message) is called without
        asking: Jinja's sandbox finds every Macro safe to call and no str method in it."""
        if type(__obj) is Macro:
            return __context.call(__obj, *args, **kwargs)
        if isinstance(getattr(__obj, "__self__", None), str) and (
            getattr(__obj, "__name__", "") in _WIDTH_METHODS
        ):
            for arg in (*args, *kwargs.values()):
                _check_width(arg)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if not isinstance(value, _METHODS):
            return None  # the common case (every attribute read asks), without Jinja's calls
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = cast(str, value.__self__)  # a str: Jinja wraps only str.format
        _check_spec(fmt, braces=True)
        nested = any("{" in (spec or "") for _, _, spec, _ in string.Formatter().parse(fmt))

        def bounded(*args: Any, **kwargs: Any) -> str:
            if nested:  # "{:>{w}}": the width comes from an argument
                for arg in (*args, *kwargs.values()):
                    for item in arg.values() if isinstance(arg, Mapping) else (arg,):
                        _check_width(item)
            return wrapped(*args, **kwargs)

        return bounded

    def bounded_concat(self, value: str) -> str:
        if len(value) > _MAX_OUTPUT:
            raise SecurityError(f"string longer than {_MAX_OUTPUT} characters")
        return value


class _FrenchTypography(Extension):
    """French templates' own words get their no-break spaces (see domain.typography) once, when
    the template is compiled: shipped and owner templates alike. Values (a name, the owner's
    payment instructions) are printed as they were given."""

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        french = (stream.name or "").startswith("fr/")
        for token in stream:
            if french and token.type == "data":
                yield Token(token.lineno, token.type, french_typography(token.value))
            else:
                yield token


def _autoescape(name: str | None) -> bool:
    return name is not None and name.endswith(".html")


def _make_env(overrides: Mapping[str, str]) -> _Sandbox:
    env = _Sandbox(
        loader=_Loader(overrides),
        undefined=StrictUndefined,
        autoescape=_autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
        extensions=[_FrenchTypography],
    )
    env.globals.pop("lipsum", None)
    env.filters["de"] = de  # French elision before a name: « d'Atelier », « de Dupont »
    env.filters["le"] = le
    for name in ("center", "indent", "format", "wordwrap", "truncate"):
        env.filters[name] = _bounded(env.filters[name])
    return env


@cache
def _shipped_env() -> _Sandbox:
    """One sandbox for the shipped templates in a process: each is compiled once, not once per
    renderer (a tick, a preview), or loaded from the code an earlier process kept (see
    ``keep_compiled_templates``). They never change while the process runs."""
    return _make_env({})


def keep_compiled_templates(directory: Path) -> None:
    """Keep the shipped templates' compiled code in ``directory`` (a private folder of the
    store's var dir): the next process loads it instead of compiling (see template_cache).
    Owner templates are never kept: their sandboxes have no cache."""
    env = _shipped_env()
    kept = env.bytecode_cache
    if isinstance(kept, CompiledTemplates) and kept.directory == str(directory):
        return
    try:
        env.bytecode_cache = CompiledTemplates(
            directory, fingerprint(sys.modules[__name__], typography)
        )
    except OSError:  # no folder to keep them in: each process compiles, as it did
        env.bytecode_cache = None


def _render_error(exc: BaseException, fallback: str) -> TemplateError:
    """Map any failure inside template code to a TemplateError with template name and line."""
    if isinstance(exc, TemplateError):
        return exc
    if isinstance(exc, TemplateSyntaxError):
        return TemplateError(exc.name or fallback, exc.lineno, exc.message or str(exc))
    name, line = fallback, None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if isinstance(template, Template):
            name = template.name or fallback
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    if isinstance(exc, TemplateNotFound):
        message = f"template {exc.name!r} not found"
    elif isinstance(exc, RecursionError):
        message = "templates include or extend each other endlessly"
    else:
        message = str(exc) or type(exc).__name__
    return TemplateError(name, line, message)


_BLOCKS = ("subject", "body")  # what a reminder template defines


def _no_output(context: Context) -> Iterator[str]:
    """A block that prints nothing (its output in the root pass would be thrown away)."""
    return iter(())


def _collect(chunks: Iterator[str], name: str) -> str:
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > _MAX_OUTPUT:
            raise TemplateError(name, None, f"output longer than {_MAX_OUTPUT} characters")
        out.append(chunk)
    return "".join(out)


# ---------------------------------------------------------------- HTML helpers


_LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "invoice": "Facture",
        "due_on": "Échéance",
        "amount_due": "Montant dû",
        "instalment": "Échéance",
        "balance": "Solde dû",
        "interest": "Intérêts de retard",
        "indemnity": "Indemnité forfaitaire",
        "total": "Total dû",
        "payment": "Paiement",
        "pay": "Payer",
        "pay_now": "Régler en ligne",
        "contact": f"Une question{NARROW_NBSP}? Contactez-nous\u00a0:",
    },
    "en": {
        "invoice": "Invoice",
        "due_on": "Due date",
        "amount_due": "Amount due",
        "instalment": "Instalment",
        "balance": "Balance due",
        "interest": "Late-payment interest",
        "indemnity": "Compensation for recovery costs",
        "total": "Total due",
        "payment": "Payment",
        "pay": "Pay",
        "pay_now": "Pay online",
        "contact": "Any questions? Contact us:",
    },
}


@dataclass(frozen=True)
class _Segment:
    text: str
    url: str | None = None


_MAX_LINES = 4_096  # lines whose segments are remembered


@lru_cache(maxsize=_MAX_LINES)
def _link_segments(line: str) -> tuple[_Segment, ...]:
    """Split a line into text and http(s) links (anything else stays text). Remembered per
    line: the answer is the line's alone (most lines are a shop's or a template's words)."""
    out: list[_Segment] = []
    pos = 0
    for match in _URL_RE.finditer(line):
        url = match.group(0).rstrip(_URL_TRAIL)
        start, end = match.start(), match.start() + len(url)
        if start > pos:
            out.append(_Segment(line[pos:start]))
        out.append(_Segment(url, url))
        pos = end
    if pos < len(line):
        out.append(_Segment(line[pos:]))
    return tuple(out)


_Block = tuple[Literal["invoices", "button", "list", "text"], Any]
"""A block of the HTML layout: its kind and what its macro prints (a hashable value)."""


def _html_blocks(paragraphs: tuple[Paragraph, ...], button_urls: set[str]) -> list[_Block]:
    blocks: list[_Block] = []
    for para in paragraphs:
        if para.kind == "invoices":
            blocks.append(("invoices", None))
        elif para.kind == "list":
            items: list[list[tuple[_Segment, ...]]] = []
            for line in para.lines:
                if line.startswith("- ") or not items:
                    items.append([_link_segments(line[2:] if line.startswith("- ") else line)])
                else:
                    items[-1].append(_link_segments(line.strip()))
            blocks.append(("list", tuple(tuple(item) for item in items)))
        else:
            lines: list[tuple[_Segment, ...]] = []
            for line in para.lines:
                if line.strip() in button_urls:
                    if lines:
                        blocks.append(("text", tuple(lines)))
                        lines = []
                    blocks.append(("button", line.strip()))
                else:
                    lines.append(_link_segments(line))
            if lines:
                blocks.append(("text", tuple(lines)))
    return blocks


_SUBJECT = "\x00subject\x00"  # where the frame of the layout takes the subject…
_CONTENT = "\x00content\x00"  # …and the blocks
_MAX_LAYOUT_PARTS = 4_096  # frames and blocks a renderer remembers


class _Layout:
    """The HTML layout, made of what it has already made: the frame once per (language,
    shop), each block of text, list or button once per (language, value); the invoice table
    for each message. Each part is a template (or macro) that sees only its arguments, so
    the same arguments print the same bytes."""

    def __init__(self, env: _Sandbox) -> None:
        self._env = env
        self._frames: dict[tuple[str, ShopView], tuple[str, str, str] | None] = {}
        self._blocks: dict[tuple[str, _Block], str] = {}

    def html(self, ctx: ReminderContext, subject: str, blocks: list[_Block], urls: set[str]) -> str:
        lang = language(ctx.locale)
        labels = _LABELS.get(lang, _LABELS[DEFAULT_LOCALE])
        macros = self._env.get_template(LAYOUT_BLOCKS).module
        content: list[str] = []
        for block in blocks:
            kind, value = block
            if kind == "invoices":
                content.append(
                    str(
                        macros.invoices(  # type: ignore[attr-defined]
                            ctx,
                            labels,
                            show_interest=any(inv.interest for inv in ctx.invoices),
                            show_indemnity=ctx.customer.is_b2b
                            and any(inv.indemnity for inv in ctx.invoices),
                            show_total=any(inv.total_with_penalties for inv in ctx.invoices),
                            row_links=len(urls) > 1
                            or (bool(urls) and len(ctx.invoices) > len(urls)),
                            link_urls=urls,
                        )
                    )
                )
                continue
            html = self._blocks.get((lang, block))
            if html is None:
                made = getattr(macros, kind)
                html = str(made(value, labels) if kind == "button" else made(value))
                _remember(self._blocks, (lang, block), html)
            content.append(html)
        frame = self._frame(lang, labels, ctx.shop)
        if frame is None:  # the shop's own words hold a marker: no frame kept for it
            return self._render_frame(lang, labels, ctx.shop, subject, "".join(content))
        head, middle, tail = frame
        return "".join((head, str(escape(subject)), middle, *content, tail))

    def _frame(
        self, lang: str, labels: Mapping[str, str], shop: ShopView
    ) -> tuple[str, str, str] | None:
        key = (lang, shop)
        if key in self._frames:
            return self._frames[key]
        html = self._render_frame(lang, labels, shop, _SUBJECT, _CONTENT, marked=True)
        frame: tuple[str, str, str] | None = None
        if html.count(_SUBJECT) == 1 and html.count(_CONTENT) == 1:
            head, rest = html.split(_SUBJECT)
            middle, tail = rest.split(_CONTENT)
            frame = (head, middle, tail)
        _remember(self._frames, key, frame)
        return frame

    def _render_frame(
        self,
        lang: str,
        labels: Mapping[str, str],
        shop: ShopView,
        subject: str,
        content: str,
        *,
        marked: bool = False,
    ) -> str:
        return self._env.get_template(LAYOUT).render(
            lang=lang,
            labels=labels,
            shop=shop,
            subject=Markup(subject) if marked else subject,
            content=Markup(content),  # the blocks' HTML, escaped by their macros
        )


_Key = TypeVar("_Key")
_Value = TypeVar("_Value")


def _remember(memory: dict[_Key, _Value], key: _Key, value: _Value) -> None:
    if len(memory) >= _MAX_LAYOUT_PARTS:
        memory.clear()  # owners' words vary without end: stay small
    memory[key] = value


# ---------------------------------------------------------------- the renderer


class ReminderRenderer:
    """Renders reminders from the shipped templates, or from owner-edited overrides."""

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        overrides = dict(overrides or {})
        for name in overrides:
            if not _NAME_RE.match(name):
                raise ValueError(f"not a template name: {name!r} (expected e.g. 'fr/reminder_1')")
        self._overrides = overrides
        self._loader = _Loader(overrides)
        self._env = _make_env(overrides) if overrides else _shipped_env()
        self._layout = _Layout(self._env)

    # -- queries

    @property
    def overrides(self) -> Mapping[str, str]:
        """The owner-supplied template sources (empty: only the shipped templates we wrote)."""
        return self._overrides

    def available_steps(self) -> tuple[str, ...]:
        """Steps with a template: the default sequence first, then owner-only steps."""
        names = self._loader.list_templates()
        steps = {m.group("step") for n in names if (m := _NAME_RE.match(n))}
        steps = {s for s in steps if not s.startswith("_")}
        return tuple(s for s in STEPS if s in steps) + tuple(sorted(steps - set(STEPS)))

    def resolve(self, locale: str, step: str) -> str:
        """The template used for a locale and a step (falls back to English)."""
        name = template_name(locale, step)
        if self._loader.has(name):
            return name
        fallback = f"{DEFAULT_LOCALE}/{step}"
        if self._loader.has(fallback):
            return fallback
        raise TemplateError(name, None, f"no template for step {step!r}")

    def source(self, name: str) -> str:
        """The current source of a template (override, else shipped) — for the editor."""
        try:
            return self._loader.get_source(self._env, name)[0]
        except TemplateNotFound:
            raise TemplateError(name, None, "no such template") from None

    # -- rendering

    def render(self, ctx: ReminderContext) -> RenderedMessage:
        """Subject, plain text and HTML for one (possibly consolidated) message."""
        name = self.resolve(ctx.locale, ctx.step)
        subject, body = self._render_blocks(name, ctx)
        if not subject:
            raise TemplateError(name, None, "the subject is empty")
        return RenderedMessage(subject=subject, text=body, html=self._html(ctx, subject, body))

    def _render_blocks(self, name: str, ctx: ReminderContext) -> tuple[str, str]:
        variables = {
            "ctx": ctx,
            "shop": ctx.shop,
            "customer": ctx.customer,
            "invoices": ctx.invoices,
        }
        try:
            template = self._env.get_template(name)
            context = template.new_context(variables)
            # The root pass runs top-level imports and checks the rest of the template; the
            # subject and body it would print are thrown away, so they render once, below.
            own = {b: context.blocks[b][0] for b in _BLOCKS if b in context.blocks}
            for block in own:
                context.blocks[block][0] = _no_output
            _collect(template.root_render_func(context), name)
            for block, render in own.items():
                context.blocks[block][0] = render
            parts: dict[str, str] = {}
            for block in _BLOCKS:
                if block not in context.blocks:
                    raise TemplateError(name, None, f"missing block {block!r}")
                parts[block] = _collect(context.blocks[block][0](context), name)
        except Exception as exc:  # every failure inside template code
            raise _render_error(exc, name) from exc
        return tidy_subject(parts["subject"]), tidy_text(parts["body"])

    def _html(self, ctx: ReminderContext, subject: str, body: str) -> str:
        numbers = tuple(inv.number for inv in ctx.invoices)
        # Only http(s) payment links become links or buttons (never "javascript:" and the like).
        urls = {url for inv in ctx.invoices if (url := inv.payment_url) and is_web_url(url)}
        blocks = _html_blocks(split_paragraphs(body, numbers), urls if len(urls) == 1 else set())
        try:
            return self._layout.html(ctx, subject, blocks, urls)
        except Exception as exc:
            raise _render_error(exc, LAYOUT) from exc

    # -- editor support

    def validate(self, name: str, source: str, steps: Sequence[StepSpec] = ()) -> None:
        """Compile a candidate template and try it on sample contexts; raise TemplateError.

        Beyond compiling, the candidate must still produce a message that keeps the rules:
        invoice numbers and shop in the subject, greeting, amount, due date, how to pay,
        contact, penalties where due, and never an indemnity for a consumer. ``steps``: the
        shop's step rows, whose meaning (penalties, deadline) the samples take; a step not
        among them is tried as the default sequence's row of that key.
        """
        match = _NAME_RE.match(name)
        if not match:
            raise TemplateError(name, None, "not a template name (expected e.g. 'fr/reminder_1')")
        try:
            self._env.parse(source, name=name)
        except TemplateSyntaxError as exc:
            raise TemplateError(name, exc.lineno, exc.message or str(exc)) from exc
        trial = ReminderRenderer({**self._overrides, name: source})
        locale, step = match.group("locale"), match.group("step")
        # A shared partial ("fr/_macros") is tried through every step that may use it.
        rows = {spec.key: spec for spec in steps}
        keys = trial.available_steps() if step.startswith("_") else (step,)
        for each, b2b, count, with_link, earlier in product(
            keys, (True, False), (1, 2), (True, False), (0, 2)
        ):
            ctx = sample_context(
                rows.get(each) or sample_spec(each),
                locale,
                b2b=b2b,
                invoices=count,
                payment_url=with_link,
                earlier=earlier,
            )
            message = trial.render(ctx)
            problems = message_problems(ctx, message)
            if problems:
                raise TemplateError(trial.resolve(locale, each), None, problems[0])


def check_syntax(name: str, source: str) -> None:
    """Compile ``source`` in the sandbox without running it; TemplateError with the line."""
    try:
        _make_env({}).parse(source, name=name)
    except TemplateSyntaxError as exc:
        raise TemplateError(name, exc.lineno, exc.message or str(exc)) from exc


# ---------------------------------------------------------------- rules and samples


def message_problems(ctx: ReminderContext, message: RenderedMessage) -> list[str]:
    """Which of the rules every reminder must keep does this message break (empty: none)."""
    problems: list[str] = []
    subject, text = message.subject, message.text
    for inv in ctx.invoices:
        if inv.number not in subject:
            problems.append(f"the subject must name invoice {inv.number}")
    if ctx.shop.name not in subject:
        problems.append("the subject must name the shop")
    if ctx.customer.name not in text:
        problems.append("the message must greet the customer by name")
    if ctx.shop.contact_email not in text:
        problems.append("the message must offer the shop's contact e-mail")
    if ctx.shop.contact_name and ctx.shop.contact_name not in text:
        problems.append("the message must name the shop's contact person")
    lowered = f"{subject}\n{text}".lower()
    if not ctx.shop.has_terms_and_conditions and any(
        words in lowered for words in ("conditions générales", "terms and conditions")
    ):
        problems.append("the message may cite terms and conditions only when the shop has them")
    mediator = ctx.shop.consumer_mediator
    if not ctx.customer.is_b2b and mediator and mediator not in text:
        problems.append("a consumer message must name the consumer mediator")
    if ctx.asks_payment:
        for inv in ctx.invoices:
            if inv.amount_due not in text:
                problems.append(f"the message must state the amount due of {inv.number}")
            # Under a payment plan the message asks for the instalment: its day and amount.
            due = inv.instalment.due_on if inv.instalment else inv.due_on
            if due not in text:
                problems.append(f"the message must state the due date of {inv.number}")
            if inv.instalment and inv.instalment.amount not in text:
                problems.append(f"the message must state the instalment due of {inv.number}")
            if inv.payment_url and inv.payment_url not in text:
                problems.append(f"the message must give the payment link of {inv.number}")
        unlinked = [inv for inv in ctx.invoices if not inv.payment_url]
        instructions = ctx.shop.payment_instructions
        if unlinked and instructions and instructions not in text:
            problems.append("the message must give the payment instructions")
        if unlinked and not instructions:
            numbers = ", ".join(inv.number for inv in unlinked)
            problems.append(f"no way to pay {numbers}: no link, no instructions")
    if ctx.show_penalties and ctx.customer.is_b2b:
        for inv in ctx.invoices:
            if inv.interest and inv.interest not in text:
                problems.append(f"the message must state the late interest of {inv.number}")
            if inv.indemnity and inv.indemnity not in text:
                problems.append(f"the message must state the recovery indemnity of {inv.number}")
    if not ctx.customer.is_b2b:
        amounts = {inv.indemnity for inv in ctx.invoices if inv.indemnity}
        mentioned = any(word in lowered for word in ("indemnit", "recovery costs"))
        if mentioned or any(a in text for a in amounts):
            problems.append("a consumer message must never mention the recovery indemnity")
    return problems


_SAMPLE_TODAY = date(2025, 3, 12)
_SAMPLE_INVOICES = (("F-2025-0042", "1234.50", "23.67"), ("F-2025-0057", "389.90", "4.61"))
_SAMPLE_SPECS: dict[str, StepSpec] = {
    spec.key: spec for spec in (*default_step_specs(), THANK_YOU_STEP)
}


def sample_spec(step: str) -> StepSpec:
    """The step a sample stands for: the default sequence's row, else a plain email step."""
    return _SAMPLE_SPECS.get(step) or StepSpec(id=0, key=step, offset_days=1, channel=Channel.EMAIL)


def sample_context(
    step: str | StepSpec,
    locale: str,
    *,
    b2b: bool = True,
    invoices: int = 1,
    payment_url: bool = True,
    earlier: int = 0,
) -> ReminderContext:
    """A realistic context for previews and validation (amounts and dates formatted by Babel).

    ``step``: a step row's spec, or a step key (the default sequence's row of that key);
    ``earlier``: how many reminders were really sent before (a week apart, the last a week ago).
    """
    spec = sample_spec(step) if isinstance(step, str) else step
    babel_locale = BABEL_LOCALES.get(language(locale), language(locale))

    def money(amount: str) -> str:
        return str(format_currency(Decimal(amount), "EUR", locale=babel_locale))

    def day(value: date) -> str:
        return long_date(value, locale)

    penalties = spec.show_penalties
    rate = Decimal("12.15")
    views: list[InvoiceView] = []
    total = Decimal(0)
    first_due = _SAMPLE_TODAY - timedelta(days=spec.offset_days)
    for index, (number, amount, interest) in enumerate(_SAMPLE_INVOICES[: max(1, invoices)]):
        due_on = first_due - timedelta(days=14 * index)
        owed = Decimal(amount) + Decimal(interest) + 40
        total += Decimal(amount)
        views.append(
            InvoiceView(
                number=number,
                amount_due=money(amount),
                total=money(amount),
                issued_on=long_date(due_on - timedelta(days=30), locale),
                due_on=long_date(due_on, locale),
                days_late=max(0, (_SAMPLE_TODAY - due_on).days),
                payment_url=f"https://pay.example.com/i/{number}" if payment_url else None,
                interest=money(interest) if penalties and b2b else None,
                interest_rate=percent(rate, locale) if penalties and b2b else None,
                # A consumer sample carries an indemnity on purpose: templates must not print it.
                indemnity=money("40") if penalties else None,
                total_with_penalties=money(str(owed)) if penalties and b2b else None,
            )
        )
    deadline = spec.new_deadline_days
    sent = tuple(day(_SAMPLE_TODAY - timedelta(days=7 * n)) for n in range(max(0, earlier), 0, -1))
    views = [replace(view, reminded_on=sent) for view in views]
    return ReminderContext(
        step=spec.key,
        tone=spec.tone,
        locale=locale,
        today=long_date(_SAMPLE_TODAY, locale),
        shop=ShopView(
            name="Atelier Lumière",
            contact_email="contact@atelier-lumiere.example",
            contact_phone="+33 1 23 45 67 89",
            legal_name="Atelier Lumière SARL",
            legal_address="12 rue des Lilas\n75011 Paris\nFrance",
            legal_id="SIRET 123 456 789 00012",
            payment_instructions="Virement : IBAN FR76 3000 6000 0112 3456 7890 189, BIC AGRIFRPP",
            contact_name="Claire Dubois",
            signatory_name="Claire Dubois",
            signatory_role="Gérante",
            consumer_mediator="CM2C, 14 rue Saint-Jean 75017 Paris, www.cm2c.net",
            legal_form="SARL au capital de 10 000 €",
            siren="SIREN 123 456 789",
            rcs="RCS Paris",
            registered_office="12 rue des Lilas\n75011 Paris\nFrance",
        ),
        customer=CustomerView(
            name="Camille Martin",
            email="camille.martin@example.org",
            company="Martin & Fils" if b2b else None,
            is_b2b=b2b,
            postal_address="3 avenue Foch\n69006 Lyon\nFrance",
            is_company=b2b,
        ),
        invoices=tuple(views),
        new_deadline=day(_SAMPLE_TODAY + timedelta(days=deadline)) if deadline else None,
        new_deadline_days=deadline,
        total_due=money(str(total)),
        earlier_reminders=sent,
        show_penalties=spec.show_penalties,
        asks_payment=spec.asks_payment,
    )
