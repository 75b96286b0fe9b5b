"""What waits on the async runtime: only what needs the network. A repeated token, and a new JWT
once the issuer's keys are in hand, are answered in the calling thread."""

from __future__ import annotations

from flask import Flask

from conftest import bearer
from oauth_filter import _native
from oauth_filter.flask import OAuthFilter
from oauth_filter.testing import TestIssuer


def test_only_network_work_waits_on_the_runtime(issuer: TestIssuer) -> None:
    jwt = OAuthFilter()
    jwt.configure_with_jwt(issuer.jwks_url, issuer.issuer, "api")
    opaque = OAuthFilter()
    opaque.configure_with_opaque(issuer.introspection_url, issuer.client_id, issuer.client_secret)
    app = Flask(__name__)
    app.add_url_rule("/jwt", "jwt", jwt.protect()(lambda: "ok"))
    app.add_url_rule("/opaque", "opaque", opaque.protect()(lambda: "ok"))
    c = app.test_client()

    start = _native.runtime_waits()
    assert c.get("/jwt").status_code == 401
    assert _native.runtime_waits() == start, "no token: nothing to wait for"
    first = issuer.mint()
    assert c.get("/jwt", headers=bearer(first)).status_code == 200
    assert _native.runtime_waits() == start + 1, "the first token fetched the keys"
    for _ in range(50):
        assert c.get("/jwt", headers=bearer(first)).status_code == 200
        assert c.get("/jwt", headers=bearer(issuer.mint())).status_code == 200
        assert c.get("/jwt", headers=bearer(issuer.mint(expires_in=-600))).status_code == 401
    assert _native.runtime_waits() == start + 1, "cache hits and new JWTs did not wait"
    token = issuer.opaque()
    assert c.get("/opaque", headers=bearer(token)).status_code == 200
    assert _native.runtime_waits() == start + 2, "introspection waits"
