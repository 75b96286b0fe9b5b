"""The ASGI middleware under a real uvicorn: every RFC 6750 answer, per-path rules, WebSocket
handshakes refused before ``accept`` and accepted with a token, and oidc-provider's tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from conftest import OidcProvider, bearer, challenge, uvicorn_serving
from oauth_filter.asgi import OAuthFilter, OAuthMiddleware
from oauth_filter.testing import TestIssuer


def starlette(oauth: OAuthFilter, ran: list[str], **rule: Any) -> Starlette:
    async def who(request: Request) -> JSONResponse:
        token = request.state.token if hasattr(request.state, "token") else None
        ran.append(request.url.path)
        return JSONResponse({"user": token.subject if token else None})

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(f"{ws.state.token.subject}: {await ws.receive_text()}")
        await ws.close()

    routes: list[BaseRoute] = [Route("/who", who), Route("/public", who), Route("/admin", who)]
    routes.append(WebSocketRoute("/ws", echo))
    return Starlette(routes=routes, middleware=[Middleware(OAuthMiddleware, oauth=oauth, **rule)])


def jwt_filter(issuer: TestIssuer, **kwargs: bool) -> OAuthFilter:
    oauth = OAuthFilter(**kwargs)
    oauth.configure_with_jwt(issuer.jwks_url, issuer.issuer, "api")
    return oauth


@pytest.fixture
def ran() -> list[str]:
    return []


@pytest.fixture
def served(issuer: TestIssuer, ran: list[str]) -> Iterator[str]:
    with uvicorn_serving(starlette(jwt_filter(issuer), ran, scopes=["read"])) as url:
        yield url


def test_a_valid_token_reaches_the_app_with_its_facts(
    served: str, issuer: TestIssuer, ran: list[str]
) -> None:
    r = httpx.get(f"{served}/who", headers=bearer(issuer.mint("read", subject="alice")))
    assert (r.status_code, r.json(), ran) == (200, {"user": "alice"}, ["/who"])


def test_every_rfc_6750_answer(served: str, issuer: TestIssuer, ran: list[str]) -> None:
    r = httpx.get(f"{served}/who")
    assert r.status_code == 401 and challenge(r) == {"realm": "api"}
    assert r.json()["error"] == "unauthorized"
    for bad in ["garbage", issuer.mint("read", expires_in=-600), issuer.mint("read", audience="x")]:
        r = httpx.get(f"{served}/who", headers=bearer(bad))
        assert r.status_code == 401 and challenge(r)["error"] == "invalid_token", r.text
    r = httpx.get(f"{served}/who", headers=bearer(issuer.mint("write")))
    assert r.status_code == 403
    assert challenge(r)["error"] == "insufficient_scope" and challenge(r)["scope"] == "read"
    r = httpx.get(f"{served}/who", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert r.status_code == 401
    # Two credentials are one too many (RFC 6750 §2): a malformed request, as in the gateway.
    token = issuer.mint("read")
    two = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    r = httpx.get(f"{served}/who", headers=two)
    assert r.status_code == 400 and challenge(r)["error"] == "invalid_request"
    # A query-string token is not read unless allowed: no credentials.
    r = httpx.get(f"{served}/who", params={"access_token": token})
    assert r.status_code == 401 and challenge(r) == {"realm": "api"}
    assert ran == []


def test_a_query_token_when_allowed(issuer: TestIssuer, ran: list[str]) -> None:
    oauth = jwt_filter(issuer, allow_query_token=True)
    with uvicorn_serving(starlette(oauth, ran, scopes=["read"])) as url:
        token = issuer.mint("read", subject="q")
        r = httpx.get(f"{url}/who", params={"access_token": token})
        assert (r.status_code, r.json()) == (200, {"user": "q"})
        # Two ways at once is one too many (RFC 6750 §2): 400 invalid_request.
        r = httpx.get(f"{url}/who", params={"access_token": token}, headers=bearer(token))
        assert r.status_code == 400 and challenge(r)["error"] == "invalid_request"
    assert ran == ["/who"]


def test_unavailable_keys_are_503_with_retry_after(issuer: TestIssuer, ran: list[str]) -> None:
    issuer.set_fault("down")
    with uvicorn_serving(starlette(jwt_filter(issuer), ran, scopes=["read"])) as url:
        r = httpx.get(f"{url}/who", headers=bearer(issuer.mint("read")))
    assert r.status_code == 503 and r.headers["Retry-After"] and ran == []


def test_per_path_rules_from_the_route_model(issuer: TestIssuer, ran: list[str]) -> None:
    oauth = OAuthFilter.from_config(
        {
            "issuers": [{"issuer": issuer.issuer, "jwks_url": issuer.jwks_url, "audience": "api"}],
            "routes": [
                {"path": "/public", "public": True},
                {"path": "/admin", "scopes": ["admin"]},
                {"path": "/who", "scopes": ["read"], "methods": ["GET"]},
            ],
        }
    )
    with uvicorn_serving(starlette(oauth, ran)) as url:
        assert httpx.get(f"{url}/public").json() == {"user": None}
        read = bearer(issuer.mint("read", subject="r"))
        assert httpx.get(f"{url}/who", headers=read).json() == {"user": "r"}
        r = httpx.get(f"{url}/admin", headers=read)
        assert r.status_code == 403 and challenge(r)["scope"] == "admin"
        assert httpx.post(f"{url}/who", headers=read).status_code == 405
        assert httpx.get(f"{url}/elsewhere", headers=read).status_code == 404
        admin = bearer(issuer.mint("admin", subject="a"))
        assert httpx.get(f"{url}/admin", headers=admin).json() == {"user": "a"}
    assert ran == ["/public", "/who", "/admin"]


def test_websocket_handshakes(served: str, issuer: TestIssuer) -> None:
    ws_url = served.replace("http://", "ws://") + "/ws"
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url)
    assert refused.value.response.status_code == 401
    assert refused.value.response.headers["WWW-Authenticate"].startswith("Bearer")
    with pytest.raises(InvalidStatus) as forbidden:
        connect(ws_url, additional_headers=bearer(issuer.mint("write")))
    assert forbidden.value.response.status_code == 403
    with connect(ws_url, additional_headers=bearer(issuer.mint("read", subject="ws"))) as ws:
        ws.send("hi")
        assert ws.recv() == "ws: hi"


def test_oidc_provider_tokens(oidc_provider: OidcProvider, ran: list[str]) -> None:
    resource = "https://api.example/rs256"
    oauth = OAuthFilter()
    oauth.configure_with_jwt(f"{oidc_provider.issuer}/jwks", oidc_provider.issuer, resource)
    with uvicorn_serving(starlette(oauth, ran, scopes=["read"])) as url:
        r = httpx.get(f"{url}/who", headers=bearer(oidc_provider.token(resource, "read")))
        assert (r.status_code, r.json()) == (200, {"user": "interop-client"})
        other = oidc_provider.token("https://api.example/other", "read")
        r = httpx.get(f"{url}/who", headers=bearer(other))
        assert r.status_code == 401 and challenge(r)["error"] == "invalid_token"
    assert ran == ["/who"]


def test_quart_behind_the_middleware(issuer: TestIssuer) -> None:
    from quart import Quart, request

    app = Quart(__name__)

    @app.route("/who")
    async def who() -> dict[str, str]:
        return {"user": request.scope["state"]["token"].subject}

    app.asgi_app = OAuthMiddleware(app.asgi_app, oauth=jwt_filter(issuer), scopes=["read"])  # type: ignore[method-assign,assignment]
    with uvicorn_serving(app) as url:
        r = httpx.get(f"{url}/who", headers=bearer(issuer.mint("read", subject="q")))
        assert (r.status_code, r.json()) == (200, {"user": "q"})
        r = httpx.get(f"{url}/who", headers=bearer(issuer.mint("write")))
        assert r.status_code == 403 and challenge(r)["error"] == "insufficient_scope"


def call(app: Any, scope: Any) -> tuple[int, str]:
    """One request straight to an ASGI app (no server: scopes uvicorn never sends): the status
    and the challenge."""
    answer: dict[str, Any] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            headers = {k.lower(): v for k, v in message["headers"]}
            answer["challenge"] = headers.get(b"www-authenticate", b"").decode()

    asyncio.run(app(scope, receive, send))
    return answer["status"], answer["challenge"]


def test_what_the_core_reads_of_an_asgi_scope(issuer: TestIssuer, ran: list[str]) -> None:
    oauth = OAuthFilter.from_config(
        {
            "issuers": [{"issuer": issuer.issuer, "jwks_url": issuer.jwks_url, "audience": "api"}],
            "routes": [
                {"path": "/public", "public": True},
                {"path": "/admin", "scopes": ["admin"]},
                {"path": "/who", "scopes": ["read"], "methods": ["GET"]},
            ],
        }
    )

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        ran.append(scope["state"]["token"].subject if "state" in scope else "public")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = OAuthMiddleware(inner, oauth)
    read = f"Bearer {issuer.mint('read', subject='r')}".encode()

    def scope(path: str = "/who", **items: Any) -> dict[str, Any]:
        base: dict[str, Any] = {"type": "http", "method": "GET", "path": path, "query_string": b""}
        base["raw_path"] = path.encode()
        base["headers"] = [(b"authorization", read)]
        return {**base, **items}

    assert call(app, scope())[0] == 200
    # Headers as lists of bytes-like values (ASGI allows any iterable of pairs).
    assert (
        call(app, scope(headers=[[b"host", b"x"], [b"authorization", bytearray(read)]]))[0] == 200
    )
    # Two Authorization headers, whatever their case: two credentials, refused (RFC 6750 §2).
    status, why = call(app, scope(headers=[(b"authorization", read), (b"Authorization", read)]))
    assert status == 400 and 'error="invalid_request"' in why
    # The route comes from raw_path without its query ...
    assert call(app, scope(raw_path=b"/admin?x=1"))[0] == 403
    assert call(app, scope(raw_path=b"/public?x=1", headers=[]))[0] == 200
    # ... or, without raw_path, from path percent-encoded, which is not another route's path.
    assert call(app, scope(raw_path=None, path="/admin"))[0] == 403
    assert call(app, scope(raw_path=None, path="/public/../admin", headers=[]))[0] == 400
    assert call(app, scope(raw_path=None, path="/who?/public"))[0] == 404
    # An empty raw_path is no path either: the route comes from path.
    assert call(app, scope(raw_path=b"", path="/admin"))[0] == 403
    # A raw_path that is not UTF-8 is read as Latin-1, as before: not the route of its prefix.
    assert call(app, scope(raw_path=b"/admin\xff"))[0] == 404
    # No method (a WebSocket scope has none): GET. A method the route does not allow: 405.
    assert call(app, {k: v for k, v in scope().items() if k != "method"})[0] == 200
    assert call(app, scope(method="POST"))[0] == 405
    # Broken scopes are errors, never a pass.
    with pytest.raises(TypeError):
        call(app, scope(headers=[(b"authorization", "Bearer text")]))
    with pytest.raises(TypeError):
        call(app, scope(headers=None))
    assert ran == ["r", "r", "public", "r"]
