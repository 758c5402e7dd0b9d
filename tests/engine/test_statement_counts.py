"""Statement and commit budgets of the hot paths (design §8), counted with SQLAlchemy's engine
events: a regression to per-row ORM work breaks them. Counts, not times."""

from __future__ import annotations

from collections import Counter

from connector.mail.sendgrid import SendGridTransport
from connector.services import Services
from tests.engine.test_exactly_once import NOW, reminder_states, seed
from tests.support.fake_sendgrid import FakeSendGrid
from tests.support.statements import counting

MESSAGES = 100


def test_a_batch_of_100_sends_stays_within_its_statement_budget(services: Services) -> None:
    """100 customers, one invoice each: the courtesy step is passed over, reminder_1 goes out.
    The whole tick — claims, reads, marks, records, the skipped steps' timeline — within
    8 statements and 0.2 commits per message (on main: 33 statements, 2 commits)."""
    seed(services, MESSAGES)
    with FakeSendGrid() as sendgrid:
        runner = services.runner(transport=SendGridTransport("SG.t", sendgrid.url))
        with counting(services.engine) as counted:
            report = runner.tick(NOW)
        accepted = sendgrid.accepted_reminder_ids()
    assert report.counts() == {"sent": MESSAGES, "skipped": MESSAGES}
    assert len(accepted) == MESSAGES and set(accepted.values()) == {1}
    assert reminder_states(services) == {"sent": MESSAGES, "skipped": MESSAGES}
    statements, commits = counted.per(MESSAGES)
    top = Counter(counted.texts).most_common(8)
    assert statements <= 8, (statements, top)
    assert commits <= 0.2, (commits, top)

