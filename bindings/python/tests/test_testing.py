"""oauth_filter.testing.TestIssuer: what users' tests can do with it."""

from __future__ import annotations

import pytest
from flask import Flask, g

from conftest import bearer
from oauth_filter.flask import OAuthFilter
from oauth_filter.testing import TestIssuer


def protected(issuer: TestIssuer) -> Flask:
    oauth = OAuthFilter()
    oauth.configure_with_jwt(issuer.jwks_url, issuer.issuer, "api")
    app = Flask(__name__)
    app.before_request(oauth.filter)
    app.add_url_rule("/", "index", lambda: str(g.user))
    return app


def test_tokens_of_every_algorithm_and_shape(issuer: TestIssuer) -> None:
    c = protected(issuer).test_client()
    for alg in ("RS256", "ES256", "EdDSA"):
        assert c.get("/", headers=bearer(issuer.mint(alg=alg))).status_code == 200, alg
    assert c.get("/", headers=bearer(issuer.mint(subject="x"))).data == b"x"
    assert c.get("/", headers=bearer(issuer.mint(without=["exp"]))).status_code == 401
    assert c.get("/", headers=bearer(issuer.mint(header={"kid": "nope"}))).status_code == 401
    with pytest.raises(ValueError, match="no PS256 key"):
        issuer.mint(alg="PS256")
    with pytest.raises(ValueError, match="not a test key algorithm"):
        issuer.mint(alg="HS256")


def test_key_rotation_and_removal(issuer: TestIssuer) -> None:
    c = protected(issuer).test_client()
    old_key = issuer.kids[0]
    before = issuer.mint()
    assert c.get("/", headers=bearer(before)).status_code == 200
    kid = issuer.rotate("ES256")
    assert issuer.kids[0] == kid
    after = issuer.mint()
    # Unknown kids refetch at most once per cooldown (30 s), so a flood of made-up kids costs
    # one fetch: right after the first fetch, the new key is not looked for yet.
    assert c.get("/", headers=bearer(after)).status_code == 401
    assert issuer.jwks_requests == 1
    # A filter that fetches now sees the rotated set; a removed key no longer verifies.
    issuer.remove_key(old_key)
    fresh = protected(issuer).test_client()
    assert fresh.get("/", headers=bearer(after)).status_code == 200
    assert fresh.get("/", headers=bearer(before)).status_code == 401


def test_opaque_tokens_and_revocation(issuer: TestIssuer) -> None:
    oauth = OAuthFilter()
    oauth.configure_with_opaque(issuer.introspection_url, issuer.client_id, issuer.client_secret)
    app = Flask(__name__)
    app.before_request(oauth.filter)
    app.add_url_rule("/", "index", lambda: str(g.user))
    c = app.test_client()
    token = issuer.opaque("read", subject="o", members={"tenant": "t1"})
    assert c.get("/", headers=bearer(token)).data == b"o"
    assert issuer.introspection_requests == 1
    assert c.get("/", headers=bearer(issuer.opaque(expires_in=-600))).status_code == 401


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("down", None),
        ("status", 500),
        ("garbage", None),
        ("huge", 2_000_000),
        ("redirect", "http://127.0.0.1:1/"),
    ],
)
def test_fault_switches_make_the_filter_answer_503(kind: str, value: object) -> None:
    with TestIssuer() as issuer:
        issuer.set_fault(kind, value)  # type: ignore[arg-type]
        r = protected(issuer).test_client().get("/", headers=bearer(issuer.mint()))
        assert r.status_code == 503, kind


def test_bad_fault_arguments_and_a_closed_issuer() -> None:
    issuer = TestIssuer(audience="orders", algorithms=["ES256"])
    assert issuer.audience == "orders" and len(issuer.kids) == 1
    with pytest.raises(ValueError, match="not a fault"):
        issuer.set_fault("flaky")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a value"):
        issuer.set_fault("status")
    with pytest.raises(ValueError, match="HTTP status"):
        issuer.set_fault("status", 99)
    issuer.close()
    with pytest.raises(RuntimeError, match="closed"):
        issuer.mint()
    assert repr(issuer) == "TestIssuer(closed)"
