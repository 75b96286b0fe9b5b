"""The FastAPI dependency under a real uvicorn: ``Security(oauth.require, scopes=...)``, the
OpenAPI document, every refusal as an ``HTTPException`` with the RFC 6750 headers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2AuthorizationCodeBearer

from conftest import OidcProvider, bearer, challenge, uvicorn_serving
from oauth_filter import Token
from oauth_filter.fastapi import OAuthError, OAuthFilter
from oauth_filter.testing import TestIssuer


def fastapi_app(oauth: OAuthFilter, ran: list[str]) -> FastAPI:
    app = FastAPI()
    sales = oauth.requiring(claims={"department": "sales"})

    @app.get("/orders")
    async def orders(token: Token = Security(oauth.require, scopes=["read"])) -> dict[str, object]:
        ran.append("orders")
        return {"user": token.subject, "scopes": list(token.scopes)}

    @app.post("/orders")
    async def place(
        request: Request, token: Token = Security(oauth.require, scopes=["read", "write"])
    ) -> dict[str, object]:
        ran.append("place")
        return {"user": request.state.token.subject}

    @app.get("/sales")
    async def sales_only(token: Token = Security(sales, scopes=["read"])) -> dict[str, object]:
        ran.append("sales")
        return {"department": token.claims["department"]}

    @app.get("/open")
    async def open_route() -> dict[str, str]:
        return {"open": "yes"}

    return app


@pytest.fixture
def ran() -> list[str]:
    return []


@pytest.fixture
def served(issuer: TestIssuer, ran: list[str]) -> Iterator[str]:
    oauth = OAuthFilter()
    oauth.configure_with_jwt(issuer.jwks_url, issuer.issuer, "api")
    with uvicorn_serving(fastapi_app(oauth, ran)) as url:
        yield url


def test_the_handler_receives_the_token(served: str, issuer: TestIssuer, ran: list[str]) -> None:
    r = httpx.get(f"{served}/orders", headers=bearer(issuer.mint("read write", subject="bo")))
    assert (r.status_code, r.json()) == (200, {"user": "bo", "scopes": ["read", "write"]})
    r = httpx.post(f"{served}/orders", headers=bearer(issuer.mint("read write", subject="bo")))
    assert (r.status_code, r.json()) == (200, {"user": "bo"})
    token = issuer.mint("read", claims={"department": "sales"})
    assert httpx.get(f"{served}/sales", headers=bearer(token)).json() == {"department": "sales"}
    assert ran == ["orders", "place", "sales"]


def test_refusals(served: str, issuer: TestIssuer, ran: list[str]) -> None:
    r = httpx.get(f"{served}/orders")
    assert r.status_code == 401 and challenge(r) == {"realm": "api"}
    assert r.json()["detail"]["error"] == "unauthorized"
    r = httpx.get(f"{served}/orders", headers=bearer("garbage"))
    assert r.status_code == 401 and challenge(r)["error"] == "invalid_token"
    assert r.json()["detail"]["error"] == "invalid_token"
    r = httpx.post(f"{served}/orders", headers=bearer(issuer.mint("read")))
    assert r.status_code == 403 and challenge(r)["error"] == "insufficient_scope"
    assert challenge(r)["scope"] == "read write"
    r = httpx.get(
        f"{served}/sales", headers=bearer(issuer.mint("read", claims={"department": "hr"}))
    )
    assert r.status_code == 403
    r = httpx.get(f"{served}/sales", headers=bearer(issuer.mint("read")))
    assert r.status_code == 403
    assert httpx.get(f"{served}/open").json() == {"open": "yes"}
    assert ran == []


def test_the_openapi_document_shows_the_security_requirement(served: str) -> None:
    doc = httpx.get(f"{served}/openapi.json").json()
    assert doc["components"]["securitySchemes"]["oauth_filter"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert doc["paths"]["/orders"]["get"]["security"] == [{"oauth_filter": ["read"]}]
    assert doc["paths"]["/orders"]["post"]["security"] == [{"oauth_filter": ["read", "write"]}]
    assert "security" not in doc["paths"]["/open"]["get"]


def test_unavailable_keys_are_503(issuer: TestIssuer, ran: list[str]) -> None:
    oauth = OAuthFilter()
    oauth.configure_with_jwt(issuer.jwks_url, issuer.issuer, "api")
    issuer.set_fault("status", 500)
    with uvicorn_serving(fastapi_app(oauth, ran)) as url:
        r = httpx.get(f"{url}/orders", headers=bearer(issuer.mint("read")))
    assert r.status_code == 503 and r.headers["Retry-After"] and ran == []


def test_an_exception_handler_replaces_the_answer(issuer: TestIssuer, ran: list[str]) -> None:
    oauth = OAuthFilter()
    oauth.configure_with_jwt(issuer.jwks_url, issuer.issuer, "api")
    app = fastapi_app(oauth, ran)

    @app.exception_handler(OAuthError)
    async def custom(request: Request, exc: OAuthError) -> JSONResponse:
        return JSONResponse({"nope": exc.rejection.reason}, exc.status_code, exc.headers)

    with uvicorn_serving(app) as url:
        r = httpx.get(f"{url}/orders")
    assert (r.status_code, r.json()) == (401, {"nope": "missing_token"})
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_oidc_provider_tokens(oidc_provider: OidcProvider, ran: list[str]) -> None:
    resource = "https://api.example/es256"
    oauth = OAuthFilter()
    oauth.configure_with_jwt(f"{oidc_provider.issuer}/jwks", oidc_provider.issuer, resource)
    with uvicorn_serving(fastapi_app(oauth, ran)) as url:
        token = oidc_provider.token(resource, "read write")
        r = httpx.post(f"{url}/orders", headers=bearer(token))
        assert (r.status_code, r.json()) == (200, {"user": "interop-client"})
        r = httpx.post(f"{url}/orders", headers=bearer(oidc_provider.token(resource, "read")))
        assert r.status_code == 403


def test_a_custom_scheme_documents_and_the_filter_decides(issuer: TestIssuer) -> None:
    """The OpenAPI document shows the authorization server's flow with each route's scopes;
    the scheme itself never runs (``auto_error=True`` would answer 401 without our challenge)."""
    scheme = OAuth2AuthorizationCodeBearer(
        authorizationUrl=f"{issuer.issuer}/authorize",
        tokenUrl=f"{issuer.issuer}/token",
        scopes={"read": "read orders"},
        scheme_name="idp",
    )
    oauth = OAuthFilter(scheme=scheme)
    oauth.configure_with_jwt(issuer.jwks_url, issuer.issuer, "api")
    app = FastAPI()
    ran: list[str] = []

    @app.get("/orders")
    async def orders(token: Token = Security(oauth.require, scopes=["read"])) -> dict[str, str]:
        ran.append(str(token.subject))
        return {"user": str(token.subject)}

    with uvicorn_serving(app) as url:
        doc = httpx.get(f"{url}/openapi.json").json()
        r = httpx.get(f"{url}/orders")
        ok = httpx.get(f"{url}/orders", headers=bearer(issuer.mint("read", subject="ann")))
    flow = doc["components"]["securitySchemes"]["idp"]["flows"]["authorizationCode"]
    assert flow["tokenUrl"] == f"{issuer.issuer}/token"
    assert doc["paths"]["/orders"]["get"]["security"] == [{"idp": ["read"]}]
    assert r.status_code == 401 and challenge(r) == {"realm": "api"}
    assert r.json()["detail"]["error"] == "unauthorized"
    assert (ok.status_code, ok.json()) == (200, {"user": "ann"})
    assert ran == ["ann"], "the handler ran for the allowed request only"
