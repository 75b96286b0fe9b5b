"""from_config / from_toml: the gateway's vocabulary from Python, with errors naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from conftest import bearer, challenge
from oauth_filter import ConfigurationError
from oauth_filter.flask import OAuthFilter
from oauth_filter.testing import TestIssuer


def app_for(oauth: OAuthFilter, *paths: str) -> Flask:
    app = Flask(__name__)
    app.before_request(oauth.filter)
    for p in paths or ("/",):
        app.add_url_rule(p, p, lambda: "ok", methods=["GET", "POST"])
    return app


def issuer_keys(issuer: TestIssuer, **more: Any) -> dict[str, Any]:
    return {"issuer": issuer.issuer, "audience": "api", "jwks_url": issuer.jwks_url, **more}


def test_routes_apply_per_path_as_in_the_gateway(issuer: TestIssuer) -> None:
    oauth = OAuthFilter.from_config(
        {
            "issuers": [issuer_keys(issuer)],
            "routes": [
                {"prefix": "/public", "public": True},
                {"prefix": "/orders", "methods": ["GET"], "scopes": ["orders:read"]},
                {
                    "prefix": "/admin",
                    "claims": {"realm_access.roles": {"contains": "admin"}},
                    "acr_values": ["gold"],
                },
            ],
        }
    )
    c = app_for(oauth, "/public/x", "/orders", "/admin", "/other").test_client()
    assert c.get("/public/x").status_code == 200
    assert c.get("/orders").status_code == 401
    assert c.get("/orders", headers=bearer(issuer.mint("orders:read"))).status_code == 200
    assert c.get("/orders", headers=bearer(issuer.mint("other"))).status_code == 403
    post = c.post("/orders", headers=bearer(issuer.mint("orders:read")))
    assert post.status_code == 405 and post.headers["Allow"] == "GET, HEAD"
    # No route takes /other: refused, as the gateway refuses it.
    assert c.get("/other", headers=bearer(issuer.mint())).status_code == 404
    admin = issuer.mint(claims={"realm_access": {"roles": ["admin"]}, "acr": "gold"})
    assert c.get("/admin", headers=bearer(admin)).status_code == 200
    # Step-up: the right role at the wrong level is asked to authenticate again (RFC 9470).
    silver = issuer.mint(claims={"realm_access": {"roles": ["admin"]}, "acr": "silver"})
    r = c.get("/admin", headers=bearer(silver))
    assert r.status_code == 401
    assert challenge(r)["error"] == "insufficient_user_authentication"
    assert challenge(r)["acr_values"] == "gold"
    user = issuer.mint(claims={"realm_access": {"roles": ["user"]}, "acr": "gold"})
    assert c.get("/admin", headers=bearer(user)).status_code == 403
    # Encoded and dot segments are read as the core reads them.
    assert c.get("/public/../orders").status_code != 200


def test_protect_require_speaks_the_route_vocabulary(issuer: TestIssuer) -> None:
    oauth = OAuthFilter.from_config({"issuers": [issuer_keys(issuer)]})
    app = Flask(__name__)

    @app.route("/pay")
    @oauth.protect(["pay"], require={"client_ids": ["shop"], "max_token_age_secs": 60})
    def pay() -> str:
        return "paid"

    c = app.test_client()
    ok = issuer.mint("pay", claims={"client_id": "shop"})
    assert c.get("/pay", headers=bearer(ok)).status_code == 200
    assert c.get("/pay", headers=bearer(issuer.mint("pay"))).status_code == 403
    old = issuer.mint("pay", claims={"client_id": "shop", "iat": 1_700_000_000})
    assert c.get("/pay", headers=bearer(old)).status_code == 403
    with pytest.raises(ConfigurationError) as e:
        oauth.protect(require={"prefix": "/x"})
    assert e.value.key == "require"
    with pytest.raises(ConfigurationError) as e:
        oauth.protect(require={"claims": {"a..b": {"present": True}}})
    assert e.value.key == 'require.claims."a..b"'
    with pytest.raises(ConfigurationError) as e:
        oauth.protect(require={"client_idz": ["x"]})
    assert e.value.key == "require.client_idz"


def test_before_request_then_decorator_checks_both(issuer: TestIssuer) -> None:
    oauth = OAuthFilter()
    oauth.configure_with_jwt(issuer.jwks_url, issuer.issuer, "api", scopes="read")
    app = Flask(__name__)
    app.before_request(oauth.filter)

    @app.route("/w")
    @oauth.protect("write")
    def w() -> str:
        return "w"

    c = app.test_client()
    assert c.get("/w", headers=bearer(issuer.mint("read write"))).status_code == 200
    assert c.get("/w", headers=bearer(issuer.mint("read"))).status_code == 403
    assert c.get("/w", headers=bearer(issuer.mint("write"))).status_code == 403


@pytest.mark.parametrize(
    ("mapping", "key", "why"),
    [
        (
            {"issuers": [{"issuer": "https://a", "audiance": "api"}]},
            "issuers[0].audiance",
            "unknown field",
        ),
        ({"issuers": [{"issuer": "https://a"}]}, "issuers[0].audience", "missing"),
        (
            {"issuers": [{"issuer": "https://a", "audience": 5}]},
            "issuers[0].audience",
            "invalid type",
        ),
        (
            {"issuers": [{"issuer": "https://a", "audience": "x", "algorithms": ["HS256"]}]},
            "issuers[0].algorithms[0]",
            "asymmetric",
        ),
        (
            {"introspection": {"endpoint": "https://a/i", "client_id": "c"}},
            "introspection.client_secret",
            "missing",
        ),
        (
            {"leeway": 9000, "issuers": [{"issuer": "https://a", "audience": "api"}]},
            "leeway",
            "",
        ),
        ({}, "issuers", "at least one"),
        ({"routes": [{"prefix": "/", "scopes": []}]}, "routes[0].scopes", "empty"),
        ({"upstream": {"url": "http://x"}}, "upstream", "gateway only"),
        ({"listen": "127.0.0.1:1"}, "listen", "gateway only"),
        ({"scopez": ["read"]}, "scopez", "unknown field"),
        (
            {
                "introspection": {
                    "endpoint": "https://a/i",
                    "client_id": "c",
                    "client_secret": "s",
                    "redis": {"url": "redis://127.0.0.1:1/", "integrity_key": "short"},
                }
            },
            "introspection.redis.integrity_key",
            "32 bytes",
        ),
        (
            {"issuers": [{"issuer": "https://a", "audience": "api", "jwks_url": None}]},
            "",
            "mapping",
        ),
    ],
)
def test_errors_name_the_key_as_written(mapping: dict[str, Any], key: str, why: str) -> None:
    with pytest.raises(ConfigurationError) as e:
        OAuthFilter.from_config(mapping)
    assert e.value.key == key, e.value
    assert why in e.value.reason, e.value
    assert str(e.value).startswith("configuration error:")


def test_plain_http_is_only_for_loopback() -> None:
    with pytest.raises(ConfigurationError) as e:
        OAuthFilter().configure_with_jwt("http://idp.example/jwks", "http://idp.example", "api")
    assert "loopback" in e.value.reason


def test_from_toml_reads_the_gateway_vocabulary_and_the_environment(
    issuer: TestIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "filter.toml"
    path.write_text(
        f"""
leeway = 30
[[issuers]]
issuer = "{issuer.issuer}"
audience = "api"
jwks_url = "{issuer.jwks_url}"
strict_rfc9068 = true

[introspection]
endpoint = "{issuer.introspection_url}"
client_id = "{issuer.client_id}"
client_secret = "from the environment"

[[routes]]
prefix = "/"
scopes = ["read"]
"""
    )
    monkeypatch.setenv("OAUTH_FILTER__INTROSPECTION__CLIENT_SECRET", issuer.client_secret)
    c = app_for(OAuthFilter.from_toml(path)).test_client()
    # Hybrid: the issuer's JWTs locally (strict RFC 9068), other tokens introspected.
    assert c.get("/", headers=bearer(issuer.mint("read"))).status_code == 200
    untyped = issuer.mint("read", header={"typ": "JWT"})
    assert c.get("/", headers=bearer(untyped)).status_code == 401
    assert c.get("/", headers=bearer(issuer.opaque("read"))).status_code == 200
    assert issuer.introspection_requests == 1
    monkeypatch.setenv("OAUTH_FILTER__ROUTES__0__SCOPEZ", '["x"]')
    with pytest.raises(ConfigurationError) as e:
        OAuthFilter.from_toml(path)
    assert e.value.key == "routes[0].scopez"
    assert "OAUTH_FILTER__ROUTES__0__SCOPEZ" in e.value.reason
    with pytest.raises(ConfigurationError, match="cannot read"):
        OAuthFilter.from_toml(tmp_path / "missing.toml")


def test_scopes_beside_routes_are_refused(issuer: TestIssuer) -> None:
    with pytest.raises(ConfigurationError) as e:
        OAuthFilter.from_config(
            {"issuers": [issuer_keys(issuer)], "routes": [{"prefix": "/"}]}, scopes=["read"]
        )
    assert e.value.key == "scopes"


def test_an_unconfigured_filter_refuses_to_run() -> None:
    oauth = OAuthFilter()
    app = app_for(oauth)
    app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(RuntimeError, match="not configured"):
        app.test_client().get("/")


def test_the_shared_redis_cache_serves_another_instance(issuer: TestIssuer, redis_url: str) -> None:
    config = {
        "introspection": {
            "endpoint": issuer.introspection_url,
            "client_id": issuer.client_id,
            "client_secret": issuer.client_secret,
            "redis": {"url": redis_url, "integrity_key": "k" * 32},
        }
    }
    first = app_for(OAuthFilter.from_config(config)).test_client()
    second = app_for(OAuthFilter.from_config(config)).test_client()
    token = issuer.opaque()
    assert first.get("/", headers=bearer(token)).status_code == 200
    assert second.get("/", headers=bearer(token)).status_code == 200
    assert issuer.introspection_requests == 1, "the second instance read the first one's answer"
