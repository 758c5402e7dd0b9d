"""What every command shares: --json, one-line errors, the services for the environment."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

import click

from connector.config import Settings
from connector.crypto import SecretError
from connector.keys import require_usable_secrets
from connector.services import Services

F = TypeVar("F", bound=Callable[..., Any])


class CliError(click.ClickException):
    """Bad input or state: printed as one line, exit code 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"relance: {self.format_message()}", err=True)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(func)


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
def services() -> Iterator[Services]:
    try:
        svc = Services.build(Settings.from_env())
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    try:
        yield svc
    finally:
        svc.close()


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
