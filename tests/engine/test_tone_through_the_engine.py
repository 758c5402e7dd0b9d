"""Issue 9 through a real tick, on both databases: what the shop set reaches the email
(named contact, consumer mediator, contractual rate, identification), the greeting fits the
customer (a business known by no person's name is « Madame, Monsieur, »), and the French
text carries its no-break spaces."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from connector.actions import settings
from connector.actions.settings import IdentitySettings
from connector.dunning.runner import DunningRunner
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Shop
from tests.engine.conftest import outbox_messages
from tests.support.builders import add_invoices, normalized, paris

DUE = date(2026, 6, 10)  # Wednesday
FIRST_REMINDER_DAY = date(2026, 6, 11)
MEDIATOR = "CM2C, 14 rue Saint-Jean 75017 Paris, www.cm2c.net"


def test_the_shop_settings_reach_every_email(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    settings.update_identity(
        services,
        shop.id,
        IdentitySettings(
            contact_name="Claire Dubois",
            contact_phone="01 23 45 67 89",
            consumer_mediator=MEDIATOR,
        ),
        DUE,
    )
    add_invoices(
        services,
        shop,
        [
            normalized("F-1", email="marie@client.example", due_on=DUE),
            normalized("F-2", email="compta@acme.example", due_on=DUE, b2b=True, name=None),
        ],
    )
    # After add_invoices, whose merge of the fixture's shop would put the old values back.
    with write_session(services.sessions) as s:
        stored = s.get(Shop, shop.id)
        assert stored is not None
        stored.legal_name = "Atelier Dupont SARL"
        stored.legal_form = "SAS au capital de 5 000 €"
        stored.siren, stored.rcs_city = "123456782", "Lyon"
        stored.registered_office = "3 quai Saint-Antoine\n69002 Lyon"
    make_runner().tick(paris(FIRST_REMINDER_DAY))

    by_recipient = {str(m["to"]): str(m["text"]) for m in outbox_messages(services)}
    consumer, business = by_recipient["marie@client.example"], by_recipient["compta@acme.example"]
    for text in (consumer, business):
        assert "Votre contact\u00a0: Claire Dubois – compta@dupont.example – 01 23 45 67 89" in text
        assert (
            "Atelier Dupont SARL – SAS au capital de 5 000 € – SIREN 123 456 782 – RCS Lyon"
        ) in text
        assert "siège social\u00a0: 3 quai Saint-Antoine, 69002 Lyon" in text
        assert "paiement\u202f?" in text and " ?" not in text
    assert consumer.startswith("Bonjour Marie Curie,")
    assert MEDIATOR in consumer and "L616-1" in consumer
    assert "Madame, Monsieur," in business.split("\n\n")[0]
    assert MEDIATOR not in business
