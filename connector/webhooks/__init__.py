"""Webhook intake (design §6 invariants 6 and 7, §7): verify on the raw bytes, store durably under
a unique dedupe key, answer fast, then apply idempotently — retried from the store on failure.

Modules, one concern each: ``registry`` (adapters by entry point), ``store`` (the durable,
deduplicated record), ``intake`` (the fixed pipeline), ``handlers`` (platform events by kind),
``sendgrid`` (the signed Event Webhook), ``apply`` (the apply step and its retries), ``routes``
(the Flask blueprint: no logic, it calls the intake).
"""

from connector.webhooks.intake import IntakeResult, WebhookIntake

__all__ = ["IntakeResult", "WebhookIntake"]
