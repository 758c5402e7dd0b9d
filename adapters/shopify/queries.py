"""Every GraphQL document the adapter sends, and nothing else.

The client refuses any document that is not in :data:`DOCUMENTS`, and the tests validate every
entry (and every module-level string here) against the pinned Admin schema, so a new query
cannot reach Shopify without being checked. Deprecated fields are avoided: ``Customer.email``
and ``.phone`` gave way to ``defaultEmailAddress`` / ``defaultPhoneNumber``, and
``WebhookSubscriptionInput.callbackUrl`` to ``uri``.
"""

from __future__ import annotations

import re

# Cost per order, by Shopify's rules (objects 1, connections 2 + first x node): Order 1,
# two MoneyBags 4, PaymentTerms 1 + schedules 2 + 3x1, customer 1 + email 1 + phone 1,
# purchasingEntity 1 + company 1, billingAddress 1 => about 17.
ORDER_FRAGMENT = """
fragment RelanceOrder on Order {
  id
  legacyResourceId
  name
  email
  phone
  createdAt
  processedAt
  updatedAt
  cancelledAt
  test
  displayFinancialStatus
  customerLocale
  statusPageUrl
  currentTotalPriceSet { shopMoney { amount currencyCode } }
  totalOutstandingSet { shopMoney { amount currencyCode } }
  paymentTerms {
    paymentTermsType
    paymentSchedules(first: 3) { nodes { issuedAt dueAt completedAt } }
  }
  customer {
    id
    displayName
    firstName
    lastName
    locale
    defaultEmailAddress { emailAddress }
    defaultPhoneNumber { phoneNumber }
  }
  purchasingEntity {
    __typename
    ... on PurchasingCompany { company { name } }
  }
  billingAddress { company address1 address2 zip city countryCodeV2 }
}
"""

ORDERS_QUERY = (
    """
query RelanceOrders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    nodes { ...RelanceOrder }
    pageInfo { hasNextPage endCursor }
  }
}
"""
    + ORDER_FRAGMENT
)

ORDER_QUERY = (
    """
query RelanceOrder($id: ID!) {
  order(id: $id) { ...RelanceOrder }
}
"""
    + ORDER_FRAGMENT
)

# ``shop { id }`` rides along: the connection stores its shop id, which webhook bodies name
# (``shop_id``, ``order_status_url``) and which seals them to this connection.
WEBHOOK_SUBSCRIPTIONS_QUERY = """
query RelanceWebhookSubscriptions($first: Int!, $uri: String) {
  shop { id }
  webhookSubscriptions(first: $first, uri: $uri) {
    nodes { id topic uri }
  }
}
"""

WEBHOOK_SUBSCRIPTION_CREATE_MUTATION = """
mutation RelanceWebhookSubscriptionCreate(
  $topic: WebhookSubscriptionTopic!
  $subscription: WebhookSubscriptionInput!
) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $subscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""

WEBHOOK_SUBSCRIPTION_DELETE_MUTATION = """
mutation RelanceWebhookSubscriptionDelete($id: ID!) {
  webhookSubscriptionDelete(id: $id) {
    deletedWebhookSubscriptionId
    userErrors { field message }
  }
}
"""

# The installing shop, for the Relance shop made from it (name, owner's email, zone, currency).
SHOP_PROFILE_QUERY = """
query RelanceShopProfile {
  shop { id name email myshopifyDomain ianaTimezone currencyCode }
}
"""

_OPERATION = re.compile(r"^\s*(?:query|mutation)\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)


def operation_name(document: str) -> str:
    """The name of the document's (single) operation."""
    match = _OPERATION.search(document)
    if match is None:
        raise ValueError("document has no named operation")
    return match.group(1)


#: Operation name -> document. The only documents the client will send.
DOCUMENTS: dict[str, str] = {
    operation_name(doc): doc
    for doc in (
        ORDERS_QUERY,
        ORDER_QUERY,
        WEBHOOK_SUBSCRIPTIONS_QUERY,
        WEBHOOK_SUBSCRIPTION_CREATE_MUTATION,
        WEBHOOK_SUBSCRIPTION_DELETE_MUTATION,
        SHOP_PROFILE_QUERY,
    )
}
