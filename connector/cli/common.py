"""What every command shares: --json, one-line errors, the services for the environment."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from connector.config import Settings
from connector.crypto import SecretError
from connector.keys import require_usable_secrets
from connector.services import Services
from connector.store.migrate import store_problem

F = TypeVar("F", bound=Callable[..., Any])

CLI_LANGUAGE = "en"
"""The language the CLI writes in: its dates ("1 June 2026") and step names ("first reminder")
are said in it, whatever the shop writes to its customers in."""


class CliError(click.ClickException):
    """Bad input or state: one line on stderr, exit code 1. Under ``--json`` that line is a JSON
    object, ``{"error": "...", ...details}``, so a script reads errors the way it reads results."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        as_json: bool | None = None,
    ) -> None:
        super().__init__(message)
        if as_json is None:
            ctx = click.get_current_context(silent=True)
            as_json = bool(ctx is not None and ctx.params.get("as_json"))
        self.as_json = as_json
        self.details = dict(details or {})

    def show(self, file: Any = None) -> None:
        if self.as_json:
            error = {"error": self.format_message(), **self.details}
            click.echo(json.dumps(error, default=_json_default, ensure_ascii=False), err=True)
        else:
            click.echo(f"relance: {self.format_message()}", err=True)


class RelanceGroup(click.Group):
    """The top-level group: a usage error (unknown option, bad choice, missing argument) in a
    command run with --json is reported as JSON too, so a script parses one format whatever
    went wrong. Its exit code stays click's 2."""

    def invoke(self, ctx: click.Context) -> Any:
        wants_json = JSON_FLAG in ctx.args  # read before click hands the args on
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            if not wants_json:
                raise
            raise JsonUsageError(exc.format_message(), as_json=True) from exc


class JsonUsageError(CliError):
    """A usage error of a command run with --json: shown as JSON, click's exit code."""

    exit_code = 2


JSON_FLAG = "--json"


def json_option(func: F) -> F:
    return click.option(JSON_FLAG, "as_json", is_flag=True, help="Machine-readable output.")(func)


def emit(as_json: bool, data: Any, human: str | Callable[[], str]) -> None:
    if as_json:
        click.echo(json.dumps(data, default=_json_default, ensure_ascii=False, indent=2))
    else:
        click.echo(human() if callable(human) else human)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


@contextmanager
def services(
    *, needs_store: bool = True, adjust: Callable[[Settings], Settings] | None = None
) -> Iterator[Services]:
    """The services for this environment; with ``needs_store`` (every command but the ones that
    migrate it first), a store that can't be used as it is stops the command with one line.
    ``adjust``: a command's own defaults (`relance serve`'s, ``Settings.for_serve``)."""
    try:
        settings = Settings.from_env()
        svc = Services.build(adjust(settings) if adjust is not None else settings)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    try:
        if needs_store:
            _check_store(svc)
        yield svc
    finally:
        svc.close()


def _check_store(svc: Services) -> None:
    where = redact_url(svc.settings.database_url)
    try:
        problem = store_problem(svc.engine, svc.settings.database_url)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise CliError(f"cannot open the store at {where}: {reason}") from exc
    if problem is not None:
        raise CliError(f"the store at {where} {problem}: run `relance db upgrade`")


def redact_url(url: str) -> str:
    """The database URL without its password, fit for messages."""
    return make_url(url).render_as_string(hide_password=True)


def check_secrets_at_start(svc: Services) -> None:
    """What serve, web, worker, tick and sync run first: refuse to start, in one line, when no
    stored secret opens with the configured keys (some failing only marks those broken)."""
    try:
        require_usable_secrets(svc)
    except SecretError as exc:
        raise CliError(str(exc)) from exc


def parse_now(raw: str | None) -> datetime:
    if raw is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CliError(f"--now: not an ISO 8601 date-time: {raw!r}") from exc
    if value.tzinfo is None:
        raise CliError(f"--now: needs a UTC offset (e.g. {raw}Z or {raw}+01:00)")
    return value.astimezone(UTC)


def errors_as_cli(*types: type[Exception]) -> Callable[[F], F]:
    """Turn domain errors into one-line CLI errors."""

    def deco(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except types as exc:
                raise CliError(str(exc)) from exc

        return wrapper  # type: ignore[return-value]

    return deco


def not_available(what: str) -> None:
    click.echo(f"relance: {what} is not available yet", err=True)
    sys.exit(2)
