"""flask-of-oil 1.2.2's README: claims, scopes as list or string, several issuers, opaque tokens,
request.claims."""

from __future__ import annotations

import json

import pytest
from flask import Flask, request

from conftest import bearer
from oauth_filter.flask import OAuthFilter, current_token
from oauth_filter.testing import TestIssuer


def app_with(oauth: OAuthFilter) -> Flask:
    _app = Flask(__name__)

    # The README's examples, one route each.
    @_app.route("/present")
    @oauth.protect(scopes=["read"], claims={"MyGoodClaim": None})
    def present():  # type: ignore[no-untyped-def]
        return json.dumps(request.claims)  # type: ignore[attr-defined]

    @_app.route("/equal")
    @oauth.protect(scopes=["write"], claims={"MyGoodClaim": "MyGoodValue"})
    def equal():  # type: ignore[no-untyped-def]
        return request.claims["sub"]  # type: ignore[attr-defined]

    @_app.route("/string")
    @oauth.protect("scope1 scope2")
    def string():  # type: ignore[no-untyped-def]
        return "ok"

    @_app.route("/list")
    @oauth.protect(["scope1", "scope2"])
    def as_list():  # type: ignore[no-untyped-def]
        return "ok"

    @_app.route("/typed")
    @oauth.protect()
    def typed():  # type: ignore[no-untyped-def]
        t = current_token
        return json.dumps(
            {
                "subject": t.subject,
                "client_id": t.client_id,
                "scopes": list(t.scopes),
                "kind": t.kind,
                "expires_at": t.expires_at,
                "claims": t.claims,
            }
        )

    @_app.route("/url-claim")
    @oauth.protect(claims={"https://example.com/roles": None})
    def url_claim():  # type: ignore[no-untyped-def]
        return "ok"

    return _app


@pytest.fixture
def jwt_app(issuer: TestIssuer) -> Flask:
    oauth = OAuthFilter(verify_ssl=True)
    oauth.configure_with_jwt(issuer.jwks_url, issuer.issuer, "api")
    return app_with(oauth)


def test_claims_presence_and_equality(jwt_app: Flask, issuer: TestIssuer) -> None:
    c = jwt_app.test_client()
    good = issuer.mint("read write", claims={"MyGoodClaim": "MyGoodValue"}, subject="dora")
    r = c.get("/present", headers=bearer(good))
    assert r.status_code == 200
    claims = json.loads(r.data)
    assert claims["MyGoodClaim"] == "MyGoodValue" and claims["sub"] == "dora"
    assert claims["iss"] == issuer.issuer
    assert c.get("/equal", headers=bearer(good)).data == b"dora"
    # Absent claim, wrong value, wrong type (JSON equality: "1" is not 1).
    assert c.get("/present", headers=bearer(issuer.mint("read"))).status_code == 403
    other = issuer.mint("write", claims={"MyGoodClaim": "other"})
    assert c.get("/equal", headers=bearer(other)).status_code == 403
    typed = issuer.mint("write", claims={"MyGoodClaim": ["MyGoodValue"]})
    assert c.get("/equal", headers=bearer(typed)).status_code == 403
    # Scopes are still required beside the claims.
    no_write = issuer.mint("read", claims={"MyGoodClaim": "MyGoodValue"})
    assert c.get("/equal", headers=bearer(no_write)).status_code == 403


def test_claim_names_are_names_not_paths(jwt_app: Flask, issuer: TestIssuer) -> None:
    c = jwt_app.test_client()
    named = issuer.mint(claims={"https://example.com/roles": ["a"]})
    assert c.get("/url-claim", headers=bearer(named)).status_code == 200
    nested = issuer.mint(claims={"https://example": {"com/roles": ["a"]}})
    assert c.get("/url-claim", headers=bearer(nested)).status_code == 403


def test_scopes_as_a_list_or_a_space_separated_string(jwt_app: Flask, issuer: TestIssuer) -> None:
    c = jwt_app.test_client()
    both = issuer.mint("scope2 scope1")
    one = issuer.mint("scope1")
    for path in ("/string", "/list"):
        assert c.get(path, headers=bearer(both)).status_code == 200
        assert c.get(path, headers=bearer(one)).status_code == 403
    # scp as an array (as some servers issue) counts too.
    scp = issuer.mint(claims={"scp": ["scope1", "scope2"]})
    assert c.get("/list", headers=bearer(scp)).status_code == 200


def test_the_typed_current_token(jwt_app: Flask, issuer: TestIssuer) -> None:
    token = issuer.mint("a b", subject="erin", expires_in=120)
    data = json.loads(jwt_app.test_client().get("/typed", headers=bearer(token)).data)
    assert data["subject"] == "erin"
    assert data["client_id"] == "test-client"
    assert data["scopes"] == ["a", "b"]
    assert data["kind"] == "jwt"
    assert data["expires_at"] == data["claims"]["exp"]


def test_current_token_outside_a_verified_request_is_an_error() -> None:
    app = Flask(__name__)
    with app.test_request_context("/"), pytest.raises(RuntimeError, match="no verified token"):
        _ = current_token.subject


def test_several_issuers_each_with_its_own_keys() -> None:
    with TestIssuer() as a, TestIssuer(path="/tenant-b") as b:
        oauth = OAuthFilter()
        oauth.configure_with_multiple_jwt_issuers([a.issuer, b.issuer], "api")
        c = app_with(oauth).test_client()
        assert c.get("/typed", headers=bearer(a.mint(subject="from-a"))).status_code == 200
        r = c.get("/typed", headers=bearer(b.mint(subject="from-b")))
        assert json.loads(r.data)["subject"] == "from-b"
        # A token claiming b's iss but signed with a's key: refused (keys are per issuer).
        forged = a.mint(issuer=b.issuer)
        assert c.get("/typed", headers=bearer(forged)).status_code == 401
        # An issuer that is not configured.
        with TestIssuer() as stranger:
            assert c.get("/typed", headers=bearer(stranger.mint())).status_code == 401


def test_opaque_tokens_and_request_claims(issuer: TestIssuer) -> None:
    oauth = OAuthFilter()
    oauth.configure_with_opaque(issuer.introspection_url, issuer.client_id, issuer.client_secret)
    c = app_with(oauth).test_client()
    token = issuer.opaque("read", members={"MyGoodClaim": "x", "department": "sales"})
    r = c.get("/present", headers=bearer(token))
    assert r.status_code == 200
    claims = json.loads(r.data)
    assert claims["active"] is True and claims["department"] == "sales"
    typed = json.loads(c.get("/typed", headers=bearer(token)).data)
    assert typed["kind"] == "introspection"
    assert c.get("/present", headers=bearer(issuer.opaque("write"))).status_code == 403


def test_claims_that_are_not_a_dict_are_an_error_not_ignored() -> None:
    oauth = OAuthFilter()
    with pytest.raises(TypeError, match="claims must be a dict"):
        oauth.protect(claims=["MyGoodClaim"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="scopes must be"):
        oauth.protect(scopes=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a scope"):
        oauth.protect(scopes=['bad"scope'])
