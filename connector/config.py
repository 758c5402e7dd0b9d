"""Settings: defaults first, then the environment. One frozen object passed around, no globals."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from exc


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = (env.get(name) or choices[0]).strip().lower()
    if raw not in choices:
        raise ValueError(f"environment variable {name} must be one of {', '.join(choices)}")
    return raw


#: `relance serve`'s own defaults: environment variable → (setting, value).
SERVE_DEFAULTS: dict[str, tuple[str, Any]] = {
    "RELANCE_WEBHOOK_APPLY": ("webhook_apply", "worker"),
    "RELANCE_TICK_BATCH": ("tick_batch", 8),
    "RELANCE_SEND_CONCURRENCY": ("send_concurrency", 8),
}

#: What the reminders need: unpaid orders, their customers and their payment terms.
DEFAULT_SHOPIFY_SCOPES = ("read_orders", "read_customers", "read_payment_terms")


def _scopes(raw: str | None) -> tuple[str, ...]:
    found = tuple(part.strip() for part in (raw or "").split(",") if part.strip())
    return found or DEFAULT_SHOPIFY_SCOPES


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database_url: str
    outbox_dir: Path
    letters_dir: Path
    exports_dir: Path
    base_url: str
    secret_keys: tuple[str, ...]  # Fernet keys, newest first; empty: a local key under var_dir
    flask_secret_key: str | None
    sendgrid_api_key: str | None
    sendgrid_api_host: str
    claim_lease_seconds: int = 300
    send_lease_seconds: int = 120  # longer than the mail transport's whole retry budget
    send_concurrency: int = 16
    serve_threads: int = 8  # request threads of `relance serve`
    tick_batch: int = 500
    max_webhook_bytes: int = 1024 * 1024
    # SendGrid Event Webhook verification key (base64 DER, as the SendGrid UI shows it).
    sendgrid_webhook_public_key: str | None = None
    # "inline": a delivery is applied before it is answered (a 200 means the payment is in);
    # "background": answered once stored, applied right after by a thread of the same process;
    # "worker": only stored, the worker applies (`relance serve`'s default: its own scheduler).
    webhook_apply: str = "inline"
    # The operator's read-only overview of every shop (until owner accounts exist): off unless
    # a token is set, and then only behind a sign-in with that token.
    overview_token: str | None = None
    # Where sign-in attempts are counted (Flask-Limiter storage URI, e.g. redis://…): the
    # default in-memory store counts per process.
    ratelimit_storage_uri: str = "memory://"
    # The sender of account mail (password reset); unset: the owner's shop's sender address.
    mail_from: str | None = None
    # The Shopify app (Partner dashboard): client id, client secret, the scopes it asks for.
    shopify_api_key: str | None = None
    shopify_api_secret: str | None = None
    shopify_scopes: tuple[str, ...] = DEFAULT_SHOPIFY_SCOPES
    # Tests and development only: every shop's admin (OAuth and Admin API) at this origin
    # instead of https://<shop>.myshopify.com.
    shopify_admin_base: str | None = None
    # Stripe Connect (a deployment run as a Connect platform): the platform's client id and
    # secret key; both set → the Connections page offers "Connect with Stripe".
    stripe_connect_client_id: str | None = None
    stripe_secret_key: str | None = field(default=None, repr=False)
    stripe_connect_base: str = "https://connect.stripe.com"
    # Where Stripe API calls of new connections go (None: api.stripe.com); for tests and demos.
    stripe_api_base: str | None = None
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    def for_serve(self) -> Settings:
        """`relance serve` (web and scheduler in one process, SQLite by default): its own
        defaults for what the environment does not set (``SERVE_DEFAULTS``). Deliveries are
        stored and answered, and the process's pump applies them right after in small batches
        (connector.webhooks.pump): inline, each apply held a request thread and SQLite's one
        writer for milliseconds. The tick claims and sends in smaller batches with fewer
        threads: its transactions hold that writer less long, and a delivery waits less (a claim
        of 16 customers held it 105 ms at the median under a webhook storm, one of 8 39 ms,
        with the tick sending faster, not slower: bench/intake_sqlite.py)."""
        changes: dict[str, Any] = {
            attr: value
            for name, (attr, value) in SERVE_DEFAULTS.items()
            if not (self.env.get(name) or "").strip()
        }
        return replace(self, **changes) if changes else self

    @property
    def stripe_connect_enabled(self) -> bool:
        return bool(self.stripe_connect_client_id and self.stripe_secret_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        var_dir = Path(env.get("RELANCE_VAR_DIR") or "var").resolve()
        default_db = f"sqlite:///{var_dir / 'relance.db'}"
        keys = tuple(k.strip() for k in env.get("RELANCE_SECRET_KEYS", "").split(",") if k.strip())
        return cls(
            var_dir=var_dir,
            database_url=env.get("DATABASE_URL") or default_db,
            outbox_dir=Path(env.get("RELANCE_OUTBOX_DIR") or var_dir / "outbox"),
            letters_dir=Path(env.get("RELANCE_LETTERS_DIR") or var_dir / "letters"),
            exports_dir=Path(env.get("RELANCE_EXPORTS_DIR") or var_dir / "exports"),
            base_url=(env.get("RELANCE_BASE_URL") or "http://127.0.0.1:8000").rstrip("/"),
            secret_keys=keys,
            flask_secret_key=env.get("RELANCE_FLASK_SECRET") or None,
            sendgrid_api_key=env.get("SENDGRID_API_KEY") or None,
            sendgrid_api_host=env.get("SENDGRID_API_HOST") or "https://api.sendgrid.com",
            claim_lease_seconds=_int(env, "RELANCE_CLAIM_LEASE_SECONDS", 300),
            send_lease_seconds=_int(env, "RELANCE_SEND_LEASE_SECONDS", 120),
            send_concurrency=_int(env, "RELANCE_SEND_CONCURRENCY", 16),
            serve_threads=_int(env, "RELANCE_SERVE_THREADS", 8),
            tick_batch=_int(env, "RELANCE_TICK_BATCH", 500),
            max_webhook_bytes=_int(env, "RELANCE_MAX_WEBHOOK_BYTES", 1024 * 1024),
            sendgrid_webhook_public_key=env.get("SENDGRID_WEBHOOK_PUBLIC_KEY") or None,
            webhook_apply=_choice(env, "RELANCE_WEBHOOK_APPLY", ("inline", "background", "worker")),
            overview_token=env.get("RELANCE_OVERVIEW_TOKEN") or None,
            ratelimit_storage_uri=env.get("RELANCE_RATELIMIT_STORAGE_URI") or "memory://",
            mail_from=env.get("RELANCE_MAIL_FROM") or None,
            shopify_api_key=env.get("SHOPIFY_API_KEY") or None,
            shopify_api_secret=env.get("SHOPIFY_API_SECRET") or None,
            shopify_scopes=_scopes(env.get("SHOPIFY_SCOPES")),
            shopify_admin_base=(env.get("SHOPIFY_ADMIN_BASE") or "").rstrip("/") or None,
            stripe_connect_client_id=env.get("STRIPE_CONNECT_CLIENT_ID") or None,
            stripe_secret_key=env.get("STRIPE_SECRET_KEY") or None,
            stripe_connect_base=(
                env.get("STRIPE_CONNECT_BASE") or "https://connect.stripe.com"
            ).rstrip("/"),
            stripe_api_base=(env.get("STRIPE_API_BASE") or "").rstrip("/") or None,
            env=env,
        )
