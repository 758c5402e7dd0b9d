"""Web Vitals of the owner's pages in Debian's Chromium: LCP and CLS from PerformanceObserver
(buffered), and an INP proxy (the longest Event Timing entry of one click on the page), against
Built for Shopify's bar (LCP ≤ 2.5 s, CLS ≤ 0.1, INP ≤ 200 ms).

The app runs on a temporary store, served on a free local port; the browser lives the first run
as an owner does — the account page, the shop page, the three choices — then loads the demo data
(the same loading as ``relance demo``) and opens the home with it, then the connections page and
the embedded home: the home as the Shopify admin loads it (``shop``, ``host`` and a valid
``id_token``), the shop being installed as a Shopify store, App Bridge a local stub (its CDN is
out of reach here) so static/embedded.js runs as it does in the admin. "load demo data, then
home" counts from the click on "Load demo data" (the POST loads the demo shop before it
redirects); "home with demo data" is the home opened afresh. The baseline is the bare
``/healthz`` text page: the floor this machine and browser give. ``--quick``: one pass without
CPU throttling; otherwise three passes as they are and three with the CPU slowed 4×
(Lighthouse's mobile setting), medians.

    python -m bench pages-vitals [--quick]
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from werkzeug.serving import WSGIRequestHandler, make_server

from bench.common import Figure, quiet_env, scratch_services
from connector.sandbox.shopify import make_session_token
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Connection, Invoice, Membership, Owner
from connector.web import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu"]
PASSWORD = "correct horse battery"
OWNER_EMAIL = "camille@atelier.example"
SHOPIFY_KEY, SHOPIFY_SECRET = "bench-app", "bench-app-secret"
SHOPIFY_SHOP = "atelier-camille.myshopify.com"
APP_BRIDGE = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
APP_BRIDGE_STUB = "window.shopify = {idToken: function () { return Promise.resolve(TOKEN); }};"
SETTLE_MS = 500  # after load, for late layout shifts and the last LCP candidate
LCP_TARGET_MS, CLS_TARGET, INP_TARGET_MS = 2500.0, 0.1, 200.0
EVENT_THRESHOLD_MS = 16  # Event Timing's smallest durationThreshold: quicker clicks report 0
# Recorded from the first byte of every document (an init script runs before the page's own).
OBSERVE = """
window.__vitals = {lcp: 0, cls: 0, inp: 0};
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__vitals.lcp = e.startTime;
}).observe({type: 'largest-contentful-paint', buffered: true});
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (!e.hadRecentInput) window.__vitals.cls += e.value;
}).observe({type: 'layout-shift', buffered: true});
new PerformanceObserver((list) => {
  for (const e of list.getEntries())
    if (e.interactionId) window.__vitals.inp = Math.max(window.__vitals.inp, e.duration);
}).observe({type: 'event', buffered: true, durationThreshold: THRESHOLD});
""".replace("THRESHOLD", str(EVENT_THRESHOLD_MS))


@dataclass(frozen=True, slots=True)
class Vitals:
    lcp_ms: float
    cls: float
    inp_ms: float


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@contextmanager
def _served(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def _measure(page: Any, click: str = "h1") -> Vitals:
    """The page just navigated to: LCP and CLS once it settled, then one click's INP proxy."""
    page.wait_for_load_state("load")
    page.wait_for_timeout(SETTLE_MS)
    lcp, cls = page.evaluate("() => [window.__vitals.lcp, window.__vitals.cls]")
    page.click(click)
    page.wait_for_timeout(200)
    inp = page.evaluate("() => window.__vitals.inp")
    return Vitals(float(lcp), float(cls), float(inp))


def _pass(browser: Any, throttle: float) -> dict[str, Vitals | None]:
    """One owner's first run on a fresh store; ``None`` for a page not built yet."""
    found: dict[str, Vitals | None] = {}
    with scratch_services(SHOPIFY_API_KEY=SHOPIFY_KEY, SHOPIFY_API_SECRET=SHOPIFY_SECRET) as svc:
        app = create_app(services=svc)
        rules = {rule.rule for rule in app.url_map.iter_rules()}
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.add_init_script(OBSERVE)
        page = context.new_page()
        if throttle > 1:
            cdp = context.new_cdp_session(page)
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
        with _served(app) as base:
            page.goto(base + "/healthz")
            found["baseline: /healthz (bare text)"] = _measure(page, "body")

            page.goto(base + "/")
            page.wait_for_selector("text=Create your owner account")
            found["first run: owner account"] = _measure(page)
            page.fill("#email", OWNER_EMAIL)
            page.fill("#password", PASSWORD)
            page.fill("#confirm", PASSWORD)
            page.click("main button[type=submit]")
            page.wait_for_selector("text=Create your shop")
            found["first run: shop"] = _measure(page)
            page.fill("#name", "Atelier Camille")
            page.click("main button[type=submit]")
            page.wait_for_selector("form[action$='/welcome/demo']")
            found["first run: three ways in"] = _measure(page)
            page.click("form[action$='/welcome/demo'] button[type=submit]")
            page.wait_for_selector("text=DEMO-001", timeout=120_000)
            # From the click: the demo's three platforms started, connected and synced first.
            found["load demo data, then home"] = _measure(page)
            page.goto(base + "/")
            found["home with demo data"] = _measure(page)

            found["connections"] = None
            if "/connections" in rules:
                page.goto(base + "/connections")
                found["connections"] = _measure(page)
            found["embedded home"] = _embedded_home(context, svc, base)
        context.close()
    return found


def _embedded_home(context: Any, svc: Services, base: str) -> Vitals:
    """The home inside the Shopify admin: the demo shop installed as a Shopify store (a
    connection naming it), loaded with a valid session token, App Bridge stubbed."""
    with write_session(svc.sessions) as s:
        shop_id = s.scalar(  # the owner's shop holding the demo data
            select(Invoice.shop_id)
            .join(Membership, Membership.shop_id == Invoice.shop_id)
            .join(Owner, Owner.id == Membership.owner_id)
            .where(Owner.email == OWNER_EMAIL, Invoice.number == "DEMO-001")
            .limit(1)
        )
        s.add(
            Connection(
                shop_id=shop_id,
                platform="shopify",
                external_account=SHOPIFY_SHOP,
                credentials_enc=svc.secrets.encrypt_json({"access_token": "shpat_bench"}),
                active=True,
            )
        )
    token = make_session_token(
        SHOPIFY_SECRET,
        aud=SHOPIFY_KEY,
        dest=f"https://{SHOPIFY_SHOP}",
        now=datetime.now(UTC),
        exp_in=600,
    )
    stub = APP_BRIDGE_STUB.replace("TOKEN", json.dumps(token))
    context.route(
        APP_BRIDGE, lambda route: route.fulfill(body=stub, content_type="application/javascript")
    )
    context.clear_cookies()  # the admin's iframe has none
    page = context.new_page()
    query = urlencode({"embedded": "1", "shop": SHOPIFY_SHOP, "host": "YmVuY2g", "id_token": token})
    page.goto(f"{base}/?{query}")
    page.wait_for_selector("text=DEMO-001")
    measured = _measure(page)
    page.close()
    return measured


def _median(runs: list[dict[str, Vitals | None]], name: str) -> Vitals | None:
    taken = [run[name] for run in runs if run.get(name) is not None]
    if not taken:
        return None
    return Vitals(
        statistics.median(v.lcp_ms for v in taken if v),
        statistics.median(v.cls for v in taken if v),
        statistics.median(v.inp_ms for v in taken if v),
    )


def _figures(label: str, runs: list[dict[str, Vitals | None]]) -> list[Figure]:
    base = _median(runs, "baseline: /healthz (bare text)")
    figures: list[Figure] = []
    for name in runs[0]:
        v = _median(runs, name)
        if v is None:
            print(f"{label} {name}: not built (no such route yet)", flush=True)
            continue
        inp_note = f"≤ {INP_TARGET_MS:.0f} ms; 0 = under {EVENT_THRESHOLD_MS} ms"
        figures += [
            Figure(f"{label} {name}: LCP", v.lcp_ms, "ms", base.lcp_ms if base else None,
                   f"≤ {LCP_TARGET_MS:.0f} ms {_verdict(v.lcp_ms <= LCP_TARGET_MS)}"),
            Figure(f"{label} {name}: CLS", v.cls, "", None,
                   f"≤ {CLS_TARGET} {_verdict(v.cls <= CLS_TARGET)}"),
            Figure(f"{label} {name}: INP (one click)", v.inp_ms, "ms", None,
                   f"{inp_note} {_verdict(v.inp_ms <= INP_TARGET_MS)}"),
        ]  # fmt: skip
    return figures


def _verdict(ok: bool) -> str:
    return "ok" if ok else "OVER"


def main(quick: bool | None = None) -> list[Figure]:
    quick = "--quick" in sys.argv[1:] if quick is None else quick
    quiet_env()
    if shutil.which(CHROMIUM) is None:
        print(f"pages-vitals: {CHROMIUM} not installed (Debian package `chromium`)", flush=True)
        return []
    from playwright.sync_api import sync_playwright

    figures: list[Figure] = []
    settings = [(1.0, "desktop")] if quick else [(1.0, "desktop"), (4.0, "cpu 4x")]
    passes = 1 if quick else 3
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for throttle, label in settings:
                runs = [_pass(browser, throttle) for _ in range(passes)]
                figures += _figures(f"[{label}]", runs)
        finally:
            browser.close()
    return figures


if __name__ == "__main__":
    from bench.common import report

    report(main())
