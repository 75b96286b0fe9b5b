"""An MCP server built with the real MCP SDK (streamable HTTP, under uvicorn) using
``oauth_filter.mcp.TokenVerifier``, and the SDK's own client connecting to it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.shared._httpx_utils import create_mcp_http_client
from pydantic import AnyHttpUrl

from conftest import free_port, uvicorn_serving
from oauth_filter.asgi import OAuthFilter
from oauth_filter.mcp import TokenVerifier, UnavailableError
from oauth_filter.testing import TestIssuer


@pytest.fixture
def mcp_url(issuer: TestIssuer) -> Iterator[str]:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    oauth = OAuthFilter()
    # The audience is the MCP server's own URL (RFC 8707): tokens for another server are refused.
    oauth.configure_with_jwt(issuer.jwks_url, issuer.issuer, resource)
    server = MCPServer(
        "orders",
        token_verifier=TokenVerifier(oauth, resource=resource),
        auth=AuthSettings(
            issuer_url=AnyHttpUrl(issuer.issuer),
            resource_server_url=AnyHttpUrl(resource),
            required_scopes=["read"],
            validate_token_resource=True,
        ),
    )

    @server.tool()
    def whoami() -> str:
        """The caller's subject and client."""
        token = get_access_token()
        assert token is not None
        return f"{token.subject} via {token.client_id} for {token.resource}"

    with uvicorn_serving(server.streamable_http_app(), port=port):
        yield resource


async def call_whoami(url: str, token: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        result = await session.call_tool("whoami", {})
        text = result.content[0]
        return str(getattr(text, "text", text))


def test_a_valid_token_calls_a_tool(mcp_url: str, issuer: TestIssuer) -> None:
    token = issuer.mint("read", subject="ada", audience=mcp_url, claims={"client_id": "cli"})
    assert asyncio.run(call_whoami(mcp_url, token)) == f"ada via cli for {mcp_url}"


def test_no_token_is_401_with_the_challenge(mcp_url: str) -> None:
    r = httpx.post(mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_for_another_resource_is_401(mcp_url: str, issuer: TestIssuer) -> None:
    other = issuer.mint("read", audience="http://127.0.0.1:1/mcp")
    headers = {"Authorization": f"Bearer {other}", "Accept": "application/json, text/event-stream"}
    r = httpx.post(mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=headers)
    assert r.status_code == 401
    with pytest.raises(Exception):  # noqa: B017 (the SDK's client fails to connect)
        asyncio.run(call_whoami(mcp_url, other))


def test_a_missing_scope_is_403(mcp_url: str, issuer: TestIssuer) -> None:
    token = issuer.mint("write", audience=mcp_url)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    r = httpx.post(mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=headers)
    assert r.status_code == 403


def test_the_verifier_maps_the_token_and_refuses_what_the_filter_refuses(
    issuer: TestIssuer,
) -> None:
    oauth = OAuthFilter()
    oauth.configure_with_jwt(issuer.jwks_url, issuer.issuer, "https://mcp.example/mcp")
    verifier = TokenVerifier(oauth, resource="https://mcp.example/mcp")
    token = issuer.mint("read write", subject="s", audience="https://mcp.example/mcp")
    access = asyncio.run(verifier.verify_token(token))
    assert access is not None
    assert (access.subject, access.scopes, access.resource) == (
        "s",
        ["read", "write"],
        "https://mcp.example/mcp",
    )
    assert (
        access.expires_at is not None and access.claims is not None and access.claims["sub"] == "s"
    )
    assert asyncio.run(verifier.verify_token("garbage")) is None
    other = issuer.mint("read", audience="https://other.example/mcp")
    assert asyncio.run(verifier.verify_token(other)) is None  # meant for another server
    assert asyncio.run(verifier.verify_token(issuer.mint("read", expires_in=-600))) is None
    issuer.set_fault("down")
    fresh = OAuthFilter()
    fresh.configure_with_jwt(issuer.jwks_url, issuer.issuer, "https://mcp.example/mcp")
    with pytest.raises(UnavailableError):
        asyncio.run(TokenVerifier(fresh).verify_token(token))
