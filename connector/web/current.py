"""The signed-in owner and their current shop, for the owner's pages.

The current shop id lives in the session and is checked against the owner's memberships on
every request: a shop id from the URL, a form or an old session is never trusted alone. Inside
the Shopify admin the owner and shop come from the verified session token instead (see
connector.web.shopify_app, which signs them in before any view runs): the same membership check
then scopes every page."""

from __future__ import annotations

from flask import current_app, g, session
from flask_login import current_user

from connector.actions.accounts import (
    NotAMember,
    OwnerAccount,
    ShopSummary,
    shop_of_member,
    shops_of_owner,
)
from connector.extension import services_of

_SHOP_KEY = "shop_id"


def signed_in_owner() -> OwnerAccount:
    """The owner of this request (views behind ``login_required`` only)."""
    account = getattr(current_user, "account", None)
    assert isinstance(account, OwnerAccount), "view not behind login_required"
    return account


def current_shop() -> ShopSummary | None:
    """The session's shop if the owner is still a member of it, else their first shop; looked
    up once per request (the view and the nav's task count share it)."""
    if "current_shop" not in g:
        g.current_shop = _current_shop()
    found: ShopSummary | None = g.current_shop
    return found


def _current_shop() -> ShopSummary | None:
    owner = signed_in_owner()
    sessions = services_of(current_app).sessions
    wanted = session.get(_SHOP_KEY)
    if isinstance(wanted, int):
        try:
            return shop_of_member(sessions, owner.id, wanted)
        except NotAMember:
            session.pop(_SHOP_KEY, None)
    shops = shops_of_owner(sessions, owner.id)
    if not shops:
        return None
    session[_SHOP_KEY] = shops[0].id
    return shops[0]


class NoShopYet(Exception):
    """The signed-in owner has no shop yet: every shop page sends them to the create-shop step
    (see connector.web.errors) instead of a dead-end 404."""


def require_shop() -> ShopSummary:
    """The current shop, or NoShopYet while the owner has not created one."""
    found = current_shop()
    if found is None:
        raise NoShopYet()
    return found


def remember_shop(shop_id: int) -> None:
    """The current shop of an owner just signed in to it (install, session token)."""
    session[_SHOP_KEY] = shop_id


def choose_shop(shop_id: int) -> ShopSummary:
    """Make ``shop_id`` the current shop; NotAMember if the owner does not belong to it."""
    shop = shop_of_member(services_of(current_app).sessions, signed_in_owner().id, shop_id)
    session[_SHOP_KEY] = shop.id
    g.current_shop = shop
    return shop
