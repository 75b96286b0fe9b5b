"""DPoP-bound tokens (RFC 9449) from Python: the Flask extension and the ASGI middleware under a
real uvicorn take ``dpop`` from the configuration, read the ``DPoP`` header, accept a proof
once and refuse every misuse with the ``DPoP`` challenge."""

from __future__ import annotations

from typing import Any

import httpx
from flask import Flask
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from conftest import uvicorn_serving
from oauth_filter import asgi
from oauth_filter.flask import OAuthFilter
from oauth_filter.testing import DpopClient, TestIssuer

BASE = "https://api.example"
ALGS = 'DPoP algs="ES256 PS256 EdDSA"'


def config(issuer: TestIssuer, **dpop: Any) -> dict[str, Any]:
    return {
        "issuers": [{"issuer": issuer.issuer, "audience": "api", "jwks_url": issuer.jwks_url}],
        "dpop": {"base_url": BASE, **dpop},
    }


def dpop(token: str, proof: str) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": proof}


def test_flask_accepts_a_proof_once(issuer: TestIssuer) -> None:
    oauth = OAuthFilter.from_config(config(issuer))
    app = Flask(__name__)
    app.before_request(oauth.filter)
    app.add_url_rule("/orders", "orders", lambda: "ok")
    c = app.test_client()
    client = DpopClient("ES256")
    token = issuer.mint("read", claims={"cnf": client.cnf})
    proof = client.proof("GET", f"{BASE}/orders", token)
    assert c.get("/orders", headers=dpop(token, proof)).status_code == 200
    replayed = c.get("/orders", headers=dpop(token, proof))
    assert replayed.status_code == 401
    assert 'error="invalid_dpop_proof"' in replayed.headers["WWW-Authenticate"]
    assert ALGS in replayed.headers["WWW-Authenticate"]
    as_bearer = c.get("/orders", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401
    # Two DPoP headers reach WSGI joined by a comma: refused as two proofs.
    two = f"{client.proof('GET', f'{BASE}/orders', token)}, {proof}"
    r = c.get("/orders", headers=dpop(token, two))
    assert r.status_code == 401 and "more than one DPoP proof" in r.headers["WWW-Authenticate"]


def test_asgi_under_uvicorn(issuer: TestIssuer) -> None:
    oauth = asgi.OAuthFilter.from_config(config(issuer, accept_bearer=False))
    ran: list[str] = []

    async def orders(request: Request) -> PlainTextResponse:
        ran.append(request.state.token.subject)
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/orders", orders)],
        middleware=[Middleware(asgi.OAuthMiddleware, oauth=oauth)],
    )
    client = DpopClient("EdDSA")
    token = issuer.mint("read", subject="alice", claims={"cnf": client.cnf})
    unbound = issuer.mint("read")
    with uvicorn_serving(app) as url:
        proof = client.proof("GET", f"{BASE}/orders", token)
        assert httpx.get(f"{url}/orders", headers=dpop(token, proof)).status_code == 200
        cases = [
            ("replayed", dpop(token, proof), 'error="invalid_dpop_proof"'),
            (
                "stale",
                dpop(token, client.proof("GET", f"{BASE}/orders", token, claims={"iat": 1})),
                "the DPoP proof is too old",
            ),
            (
                "wrong typ",
                dpop(token, client.proof("GET", f"{BASE}/orders", token, header={"typ": "jwt"})),
                "typ is not dpop+jwt",
            ),
            (
                "a plain bearer token",
                {"Authorization": f"Bearer {unbound}"},
                'error="invalid_token"',
            ),
        ]
        for what, headers, expected in cases:
            r = httpx.get(f"{url}/orders", headers=headers)
            assert r.status_code == 401, what
            # Bearer tokens are not accepted: only the DPoP scheme is offered.
            assert r.headers["WWW-Authenticate"].startswith(ALGS), what
            assert expected in r.headers["WWW-Authenticate"], what
    assert ran == ["alice"]
