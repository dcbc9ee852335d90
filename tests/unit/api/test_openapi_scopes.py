"""The OpenAPI document names the scope each route declares."""

from __future__ import annotations

from bizra_node.api.openapi import _SCOPES, openapi_document
from tests.conftest import make_settings


def test_documented_scopes_are_the_routes() -> None:
    from bizra_node.app import Node

    node = Node(make_settings("http://127.0.0.1:9"))
    routes = node.dispatcher.router.routes
    declared = {r.path: r.scope for r in routes if "OPTIONS" not in r.methods}
    # a CORS preflight carries no credentials: it is never guarded
    assert all(r.scope is None for r in routes if "OPTIONS" in r.methods)
    doc = openapi_document()
    for path, scope in _SCOPES.items():
        assert declared[path] == scope, path
        for operation in doc["paths"][path].values():
            assert operation["x-scope"] == scope
            assert {"401", "403", "429"} <= set(operation["responses"])
    unguarded = {p for p, s in declared.items() if s is None}
    assert unguarded == {"/health", "/ready", "/openapi.json"}
    assert doc["components"]["securitySchemes"]["apiKey"]["name"] == "X-API-Key"
