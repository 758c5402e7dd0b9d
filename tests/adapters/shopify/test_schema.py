"""Every GraphQL document the adapter can send validates against the Admin schema 2026-10."""

from __future__ import annotations

import ast
from pathlib import Path

import graphql
import pytest
from graphql import GraphQLSchema
from graphql.validation import NoDeprecatedCustomRule

import adapters.shopify as package
from adapters.shopify import ShopifyAdapter, queries
from connector.platform import ConnectionContext
from tests.support.fake_shopify import FakeShopify, make_order

PACKAGE_DIR = Path(package.__file__).resolve().parent


def _graphql_operations_in_source() -> list[str]:
    """Every string literal in adapters/shopify/*.py that parses as a GraphQL operation."""
    found: list[str] = []
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        strings = [
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
        ]
        # documents are built by concatenation (operation + fragment): check the module's
        # evaluated constants too
        for text in strings:
            try:
                document = graphql.parse(text)
            except graphql.GraphQLError:
                continue
            if any(isinstance(d, graphql.OperationDefinitionNode) for d in document.definitions):
                found.append(text)
    return found


def test_the_schema_is_2026_10(admin_schema: GraphQLSchema) -> None:
    assert len(admin_schema.type_map) > 3000
    assert "WebhookSubscriptionInput" in admin_schema.type_map
    assert "uri" in admin_schema.get_type("WebhookSubscriptionInput").fields  # type: ignore[union-attr]


@pytest.mark.parametrize("operation", sorted(queries.DOCUMENTS))
def test_document_validates(admin_schema: GraphQLSchema, operation: str) -> None:
    document = graphql.parse(queries.DOCUMENTS[operation])
    assert graphql.validate(admin_schema, document) == []


@pytest.mark.parametrize("operation", sorted(queries.DOCUMENTS))
def test_document_uses_no_deprecated_field(admin_schema: GraphQLSchema, operation: str) -> None:
    document = graphql.parse(queries.DOCUMENTS[operation])
    assert graphql.validate(admin_schema, document, [NoDeprecatedCustomRule]) == []


def test_every_module_level_document_is_registered() -> None:
    documents = {
        name: value
        for name, value in vars(queries).items()
        if isinstance(value, str) and name.isupper() and ("query " in value or "mutation " in value)
    }
    assert documents, "no documents found: the collector is broken"
    assert set(documents.values()) == set(queries.DOCUMENTS.values())
    for name, document in queries.DOCUMENTS.items():
        assert queries.operation_name(document) == name


def test_no_operation_hides_outside_the_registry() -> None:
    # A literal that is a whole operation must be one of the registered documents (or the
    # operation half of one, before its fragment is appended).
    registered = "\n".join(queries.DOCUMENTS.values())
    for text in _graphql_operations_in_source():
        assert text in registered, f"unregistered GraphQL operation:\n{text}"


def test_client_refuses_unregistered_operations(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    with pytest.raises(ValueError, match="unregistered"):
        adapter.client(conn).execute("AnythingElse", {})
    assert fake.graphql_requests == []


def test_invalid_documents_do_fail_validation(admin_schema: GraphQLSchema) -> None:
    bad = "query Bad { orders(first: 1) { nodes { id totalOwedSet } } }"
    assert graphql.validate(admin_schema, graphql.parse(bad)) != []
    deprecated = "query Dep { customers(first: 1) { nodes { email } } }"
    assert graphql.validate(admin_schema, graphql.parse(deprecated), [NoDeprecatedCustomRule])


def test_everything_the_adapter_sent_was_registered(
    adapter: ShopifyAdapter, conn: ConnectionContext, fake: FakeShopify
) -> None:
    fake.add_orders(make_order(1, updated_at="2026-03-01T09:00:00Z"))
    list(adapter.sync(conn, None))
    adapter.fetch_status(conn, "1")
    adapter.register_webhooks(conn, "https://relance.example.com")

    sent = {r["query"] for r in fake.graphql_requests}
    assert sent <= set(queries.DOCUMENTS.values())
    assert "errors" not in fake.responses  # the fake executes them against the schema
