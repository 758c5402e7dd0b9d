"""Headers every response carries: no inline script or style, no framing, no sniffing, no
referrer leaking an invoice URL to another site.

A page served inside the Shopify admin (its session token verified: ``allow_framing_by``) may be
framed by that shop's admin only, and may load App Bridge from Shopify's CDN; every other
response keeps ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``."""

from __future__ import annotations

from flask import Response, g

APP_BRIDGE_ORIGIN = "https://cdn.shopify.com"
SHOPIFY_ADMIN = "https://admin.shopify.com"
_FRAMED_BY = "relance_framed_by"


def _policy(script_src: str, frame_ancestors: str, connect_src: str = "'self'") -> str:
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src {script_src}",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {connect_src}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {frame_ancestors}",
        )
    )


CONTENT_SECURITY_POLICY = _policy("'self'", "'none'")

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def embedded_policy(shop: str) -> str:
    """The CSP of a page inside ``shop``'s admin (a myshopify.com host, already verified)."""
    return _policy(
        f"'self' {APP_BRIDGE_ORIGIN}",
        f"https://{shop} {SHOPIFY_ADMIN}",
        connect_src=f"'self' {APP_BRIDGE_ORIGIN} https://{shop} {SHOPIFY_ADMIN}",
    )


def own_frame_ancestors() -> str:
    """``frame-ancestors`` of a page shown in a frame of our own pages (the email preview):
    inside the Shopify admin every ancestor is checked, so that shop's admin is named too."""
    shop = g.get(_FRAMED_BY)
    return "'self'" if shop is None else f"'self' https://{shop} {SHOPIFY_ADMIN}"


def allow_framing_by(shop: str) -> None:
    """This request's response may be framed by that shop's admin (and no one else)."""
    setattr(g, _FRAMED_BY, shop)


def add_security_headers(response: Response) -> Response:
    shop = g.get(_FRAMED_BY)
    headers = dict(SECURITY_HEADERS)
    if shop is not None:
        headers["Content-Security-Policy"] = embedded_policy(shop)
        del headers["X-Frame-Options"]  # it cannot name an origin; the CSP does
        headers.pop("Cross-Origin-Opener-Policy")  # App Bridge talks to the admin's window
    for name, value in headers.items():
        response.headers.setdefault(name, value)
    return response
