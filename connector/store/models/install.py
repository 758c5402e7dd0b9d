"""One-time ``state`` values of the Shopify authorization-code install.

Stored server side (only their SHA-256), bound to the shop they were issued for, used once
and expiring: a callback whose state is unknown, reused, late or for another shop is refused.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from connector.store.base import Base


class OAuthState(Base):
    __tablename__ = "oauth_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    shop_domain: Mapped[str]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
