"""The authorization server unreachable: 503, then recovery without a restart."""

from __future__ import annotations

import time

from flask import Flask

from conftest import bearer
from oauth_filter.flask import OAuthFilter
from oauth_filter.testing import TestIssuer


def app_for(oauth: OAuthFilter) -> Flask:
    app = Flask(__name__)
    app.before_request(oauth.filter)
    app.add_url_rule("/", "index", lambda: "ok")
    return app


def test_jwks_down_then_back(issuer: TestIssuer) -> None:
    oauth = OAuthFilter()
    oauth.configure_with_jwt(issuer.jwks_url, issuer.issuer, "api")
    c = app_for(oauth).test_client()
    issuer.set_fault("status", 500)
    assert c.get("/", headers=bearer(issuer.mint())).status_code == 503
    issuer.set_fault(None)
    # The filter retries after its backoff; wait for the condition, not for a fixed time.
    r = c.get("/", headers=bearer(issuer.mint()))
    for _ in range(600):
        r = c.get("/", headers=bearer(issuer.mint()))
        if r.status_code == 200:
            break
        assert r.status_code == 503
        time.sleep(0.05)
    assert r.status_code == 200


def test_introspection_down_then_back(issuer: TestIssuer) -> None:
    oauth = OAuthFilter()
    oauth.configure_with_opaque(issuer.introspection_url, issuer.client_id, issuer.client_secret)
    c = app_for(oauth).test_client()
    token = issuer.opaque()
    issuer.set_fault("down")
    r = c.get("/", headers=bearer(token))
    assert r.status_code == 503 and r.headers["Retry-After"]
    issuer.set_fault("garbage")
    assert c.get("/", headers=bearer(issuer.opaque())).status_code == 503
    issuer.set_fault(None)
    assert c.get("/", headers=bearer(token)).status_code == 200


def test_known_keys_serve_while_the_issuer_is_down(issuer: TestIssuer) -> None:
    oauth = OAuthFilter()
    oauth.configure_with_jwt(issuer.jwks_url, issuer.issuer, "api")
    c = app_for(oauth).test_client()
    assert c.get("/", headers=bearer(issuer.mint())).status_code == 200
    issuer.set_fault("down")
    # New tokens signed by a key already fetched still verify (last known good keys).
    assert c.get("/", headers=bearer(issuer.mint())).status_code == 200
