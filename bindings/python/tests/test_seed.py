"""The seed's README (Curity's OAuth filter for Flask), verbatim but for the import line."""

from __future__ import annotations

import json

from flask import Flask, g

from conftest import bearer
from oauth_filter.flask import OAuthFilter
from oauth_filter.testing import TestIssuer


def seed_before_request_app() -> tuple[Flask, OAuthFilter]:
    # --- from the README: "Example using before_request" ---
    _app = Flask(__name__)
    _oauth = OAuthFilter(verify_ssl=True)
    _app.before_request(_oauth.filter)

    @_app.route("/hello_world")
    def hello_world():  # type: ignore[no-untyped-def]
        """
        :return: Returns a very useful JSON message when accessed.
        """
        print("OAuth Access token used for access")
        return json.dumps({"hello": g.user})

    # --- end ---
    return _app, _oauth


def seed_decorator_app() -> tuple[Flask, OAuthFilter]:
    # --- from the README: "Using filter as a decorator" ---
    _app = Flask(__name__)
    _oauth = OAuthFilter(verify_ssl=True)

    @_app.route("/hello_world")
    @_oauth.protect(["read"])
    def hello_world():  # type: ignore[no-untyped-def]
        """
        :return: Returns a very useful JSON message when accessed.
        """
        print("OAuth Access token used for access")
        return json.dumps({"hello": g.user})

    # --- end ---
    @_app.route("/open")
    def open_route():  # type: ignore[no-untyped-def]
        return "open"

    return _app, _oauth


def add_seed_error_handlers(_app: Flask) -> None:
    # --- from the README: "Handling errors" ---
    @_app.errorhandler(401)
    def unauthorized(error):  # type: ignore[no-untyped-def]
        return json.dumps({'error': "unauthorized",
                           "error_description": "No valid access token found"}), \
               401, {'Content-Type': 'application/json; charset=utf-8'}

    @_app.errorhandler(403)
    def forbidden(error):  # type: ignore[no-untyped-def]
        return json.dumps({'error': "forbidden",
                           "error_description": "Access token is missing appropriate scopes"}), \
               403, {'Content-Type': 'application/json; charset=utf-8'}
    # --- end ---


def test_before_request_protects_every_route_and_sets_g_user(issuer: TestIssuer) -> None:
    app, oauth = seed_before_request_app()
    # The README's main: configure_with_jwt(jwks, issuer, audience)
    oauth.configure_with_jwt(issuer.jwks_url, issuer.issuer, "api")
    client = app.test_client()
    token = issuer.mint(subject="alice")
    ok = client.get("/hello_world", headers=bearer(token))
    assert ok.status_code == 200
    assert json.loads(ok.data) == {"hello": "alice"}
    assert client.get("/hello_world").status_code == 401
    # Every route, even one that does not exist: the filter runs first.
    assert client.get("/nowhere").status_code == 401
    assert client.get("/nowhere", headers=bearer(token)).status_code == 404


def test_the_decorator_requires_its_scopes_on_its_route_only(issuer: TestIssuer) -> None:
    app, oauth = seed_decorator_app()
    oauth.configure_with_jwt(issuer.jwks_url, issuer.issuer, "api")
    client = app.test_client()
    assert client.get("/open").status_code == 200
    assert client.get("/hello_world").status_code == 401
    read = issuer.mint("read", subject="bob")
    ok = client.get("/hello_world", headers=bearer(read))
    assert (ok.status_code, json.loads(ok.data)) == (200, {"hello": "bob"})
    assert client.get("/hello_world", headers=bearer(issuer.mint("write"))).status_code == 403


def test_the_readmes_error_handlers_replace_the_answers(issuer: TestIssuer) -> None:
    app, oauth = seed_decorator_app()
    add_seed_error_handlers(app)
    oauth.configure_with_jwt(issuer.jwks_url, issuer.issuer, "api")
    client = app.test_client()
    r = client.get("/hello_world", headers=bearer("not-a-token"))
    assert r.status_code == 401
    assert json.loads(r.data)["error_description"] == "No valid access token found"
    r = client.get("/hello_world", headers=bearer(issuer.mint("write")))
    assert r.status_code == 403
    assert json.loads(r.data) == {
        "error": "forbidden",
        "error_description": "Access token is missing appropriate scopes",
    }


def test_opaque_tokens_as_the_readme_configures_them(issuer: TestIssuer) -> None:
    app, oauth = seed_decorator_app()
    oauth.configure_with_opaque(issuer.introspection_url, issuer.client_id, issuer.client_secret)
    client = app.test_client()
    token = issuer.opaque("read", subject="carol")
    ok = client.get("/hello_world", headers=bearer(token))
    assert (ok.status_code, json.loads(ok.data)) == (200, {"hello": "carol"})
    issuer.revoke(token)
    fresh = issuer.opaque("read")
    assert client.get("/hello_world", headers=bearer(fresh)).status_code == 200
    assert client.get("/hello_world", headers=bearer(issuer.opaque("read", active=False))).status_code == 401
