"""Every RFC 6750 answer, as the default responses carry them, and their customisation."""

from __future__ import annotations

import json

import pytest
from flask import Flask, g

from conftest import bearer, challenge
from oauth_filter.flask import OAuthFilter
from oauth_filter.testing import TestIssuer


def make(issuer: TestIssuer, **kwargs: bool) -> Flask:
    oauth = OAuthFilter(**kwargs)
    oauth.configure_with_jwt(issuer.jwks_url, issuer.issuer, "api", scopes=["read"])
    app = Flask(__name__)
    app.before_request(oauth.filter)

    @app.route("/")
    def index():  # type: ignore[no-untyped-def]
        return g.user or ""

    return app


def body(r: object) -> dict[str, str]:
    return dict(json.loads(r.data))  # type: ignore[attr-defined]


def test_no_token_is_a_bare_challenge(issuer: TestIssuer) -> None:
    r = make(issuer).test_client().get("/")
    assert r.status_code == 401
    assert challenge(r) == {"realm": "api"}  # no error code without credentials (§3.1)
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Content-Type"] == "application/json"
    assert body(r)["error"] == "unauthorized"


@pytest.mark.parametrize(
    "case",
    ["garbage", "expired", "wrong_audience", "unsigned", "foreign_key", "not_yet_valid", "huge"],
)
def test_invalid_tokens_are_401_invalid_token(issuer: TestIssuer, case: str) -> None:
    with TestIssuer() as other:
        token = {
            "garbage": "not-a-token",
            "expired": issuer.mint("read", expires_in=-600),
            "wrong_audience": issuer.mint("read", audience="another-api"),
            "unsigned": issuer.mint("read", header={"alg": "none"}),
            "foreign_key": other.mint("read", issuer=issuer.issuer),
            "not_yet_valid": issuer.mint("read", claims={"nbf": 4102444800}),
            "huge": "a" * 20_000,
        }[case]
        r = make(issuer).test_client().get("/", headers=bearer(token))
    assert r.status_code == 401, case
    attrs = challenge(r)
    assert attrs["error"] == "invalid_token"
    assert body(r)["error"] == "invalid_token"
    # The description is fixed text: it never echoes the token.
    assert token[:20] not in r.headers["WWW-Authenticate"] + r.get_data(as_text=True)


def test_missing_scope_is_403_insufficient_scope_naming_the_scope(issuer: TestIssuer) -> None:
    r = make(issuer).test_client().get("/", headers=bearer(issuer.mint("write")))
    assert r.status_code == 403
    attrs = challenge(r)
    assert attrs["error"] == "insufficient_scope" and attrs["scope"] == "read"
    assert body(r)["error"] == "insufficient_scope"


def test_malformed_credentials_are_400_invalid_request(issuer: TestIssuer) -> None:
    c = make(issuer).test_client()
    r = c.get("/", headers={"Authorization": "Bearer"})
    assert r.status_code == 400
    assert challenge(r)["error"] == "invalid_request"


def test_two_authorization_headers_are_refused(issuer: TestIssuer) -> None:
    # WSGI servers join repeated headers with a comma ("Bearer a, Bearer b"); no b64token has
    # a comma or a space, so the joined value is refused, never split into one of the tokens.
    token = issuer.mint("read")
    r = (
        make(issuer)
        .test_client()
        .get(
            "/",
            headers=[("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")],
        )
    )
    assert r.status_code == 401
    assert challenge(r)["error"] == "invalid_token"


def test_a_credential_that_is_not_a_b64token_is_an_invalid_token(issuer: TestIssuer) -> None:
    # As Spring Security answers: the client should get a new token, not fix its request.
    r = make(issuer).test_client().get("/", headers={"Authorization": "Bearer a b"})
    assert r.status_code == 401
    assert challenge(r)["error"] == "invalid_token"


def test_another_scheme_is_a_missing_bearer_token(issuer: TestIssuer) -> None:
    r = make(issuer).test_client().get("/", headers={"Authorization": "Basic dTpw"})
    assert r.status_code == 401
    assert "error" not in challenge(r)


def test_query_tokens_are_refused_unless_allowed(issuer: TestIssuer) -> None:
    token = issuer.mint("read", subject="q")
    strict = make(issuer).test_client()
    assert strict.get(f"/?access_token={token}").status_code == 401
    allowed = make(issuer, allow_query_token=True).test_client()
    r = allowed.get(f"/?access_token={token}")
    assert (r.status_code, r.data) == (200, b"q")
    # Two ways at once is a malformed request (RFC 6750 §2).
    both = allowed.get(f"/?access_token={token}", headers=bearer(token))
    assert both.status_code == 400


def test_the_issuer_down_is_503_with_retry_after(issuer: TestIssuer) -> None:
    issuer.set_fault("down")
    r = make(issuer).test_client().get("/", headers=bearer(issuer.mint("read")))
    assert r.status_code == 503
    assert r.headers["Retry-After"].isdigit()
    assert "WWW-Authenticate" not in r.headers
    assert body(r)["error"] == "temporarily_unavailable"


def custom(app: Flask) -> Flask:
    for code in (400, 401, 403, 503):

        def handler(error: Exception, code: int = code) -> tuple[str, int]:
            return f"custom {code}", code

        app.register_error_handler(code, handler)
    return app


def test_every_answer_is_customisable_with_errorhandler(issuer: TestIssuer) -> None:
    # A filter that has not fetched the keys yet, while the issuer is down.
    issuer.set_fault("down")
    r = custom(make(issuer)).test_client().get("/", headers=bearer(issuer.mint("read")))
    assert (r.status_code, r.data) == (503, b"custom 503")
    issuer.set_fault(None)
    c = custom(make(issuer)).test_client()
    assert c.get("/").data == b"custom 401"
    assert c.get("/", headers={"Authorization": "Bearer"}).data == b"custom 400"
    assert c.get("/", headers=bearer(issuer.mint("write"))).data == b"custom 403"


def test_a_realm_from_the_configuration(issuer: TestIssuer) -> None:
    oauth = OAuthFilter.from_config(
        {
            "realm": "orders",
            "issuers": [{"issuer": issuer.issuer, "audience": "api", "jwks_url": issuer.jwks_url}],
        }
    )
    app = Flask(__name__)
    app.before_request(oauth.filter)
    app.add_url_rule("/", "index", lambda: "ok")
    assert challenge(app.test_client().get("/")) == {"realm": "orders"}
