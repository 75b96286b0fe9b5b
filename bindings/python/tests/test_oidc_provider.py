"""Interop with a real authorization server: oidc-provider 8 (npm), as the Rust interop tests."""

from __future__ import annotations

import pytest
from flask import Flask, g, request

from conftest import OidcProvider, bearer, challenge
from oauth_filter.flask import OAuthFilter


def app_for(oauth: OAuthFilter) -> Flask:
    app = Flask(__name__)

    @app.route("/read")
    @oauth.protect("read")
    def read() -> dict[str, object]:
        return {"client": request.claims["client_id"], "user": g.user}  # type: ignore[attr-defined]

    @app.route("/write")
    @oauth.protect(["write"])
    def write() -> str:
        return "written"

    return app


@pytest.mark.parametrize("alg", ["rs256", "es256", "eddsa"])
def test_jwt_access_tokens_of_every_algorithm(oidc_provider: OidcProvider, alg: str) -> None:
    resource = f"https://api.example/{alg}"
    oauth = OAuthFilter()
    oauth.configure_with_jwt(f"{oidc_provider.issuer}/jwks", oidc_provider.issuer, resource)
    c = app_for(oauth).test_client()
    token = oidc_provider.token(resource, "read")
    r = c.get("/read", headers=bearer(token))
    assert r.status_code == 200, r.data
    # RFC 9068 §2.2: a client credentials token names the client as its subject.
    assert r.json == {"client": "interop-client", "user": "interop-client"}
    r = c.get("/write", headers=bearer(token))
    assert r.status_code == 403 and challenge(r)["scope"] == "write"


def test_keys_by_discovery_and_audience_checked(oidc_provider: OidcProvider) -> None:
    oauth = OAuthFilter()
    oauth.configure_with_multiple_jwt_issuers([oidc_provider.issuer], "https://api.example/rs256")
    c = app_for(oauth).test_client()
    assert (
        c.get("/read", headers=bearer(oidc_provider.token("https://api.example/rs256"))).status_code
        == 200
    )
    other = oidc_provider.token("https://api.example/other")
    r = c.get("/read", headers=bearer(other))
    assert r.status_code == 401 and challenge(r)["error"] == "invalid_token"


def test_opaque_tokens_by_introspection(oidc_provider: OidcProvider) -> None:
    oauth = OAuthFilter()
    oauth.configure_with_opaque(
        f"{oidc_provider.issuer}/token/introspection", "resource-server", "resource-server-secret"
    )
    c = app_for(oauth).test_client()
    token = oidc_provider.token("https://api.example/opaque", "read write")
    assert c.get("/read", headers=bearer(token)).status_code == 200
    assert c.get("/write", headers=bearer(token)).status_code == 200
    assert c.get("/read", headers=bearer("made-up-token")).status_code == 401
    wrong = OAuthFilter()
    wrong.configure_with_opaque(
        f"{oidc_provider.issuer}/token/introspection", "resource-server", "not-the-secret"
    )
    # The server refuses our credentials: the filter cannot decide, which is not the caller's fault.
    assert app_for(wrong).test_client().get("/read", headers=bearer(token)).status_code == 503


def test_signed_introspection_responses_are_verified(oidc_provider: OidcProvider) -> None:
    oauth = OAuthFilter.from_config(
        {
            "issuers": [{"issuer": oidc_provider.issuer, "audience": "https://api.example/rs256"}],
            "introspection": {
                "endpoint": f"{oidc_provider.issuer}/token/introspection",
                "client_id": "resource-server",
                "client_secret": "resource-server-secret",
                "issuer": oidc_provider.issuer,
                "jwt_response": True,
            },
        }
    )
    c = app_for(oauth).test_client()
    token = oidc_provider.token("https://api.example/opaque", "read")
    assert c.get("/read", headers=bearer(token)).status_code == 200
    # Hybrid: the issuer's JWTs are still verified locally.
    assert (
        c.get("/read", headers=bearer(oidc_provider.token("https://api.example/rs256"))).status_code
        == 200
    )
