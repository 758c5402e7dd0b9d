"""The mail tests' shared fixture: a SendGrid-speaking server on a local port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mail import KEY
from tests.support.fake_sendgrid import FakeSendGrid


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid(api_key=KEY) as server:
        yield server
