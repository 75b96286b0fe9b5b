"""An MCP server (the real MCP SDK, streamable HTTP under uvicorn, no auth of its own) behind
the ``oauth-filter`` gateway, with tokens from the real oidc-provider (client credentials and
the RFC 8707 ``resource``) and the SDK's own client: 401 with ``resource_metadata`` and the
RFC 9728 document, tools listed and an allowed tool called (its answer streamed as SSE), a
tool whose scope the token lacks refused with 403 naming that scope, batches checked element by
element."""

from __future__ import annotations

import asyncio
import os
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer
from mcp.shared._httpx_utils import create_mcp_http_client

from conftest import ROOT, OidcProvider, challenge, uvicorn_serving

RESOURCE = "https://api.example/mcp"
METADATA = "https://api.example/.well-known/oauth-protected-resource/mcp"
BINARY = ROOT / "target" / "debug" / "oauth-filter"
ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.fixture
def gateway(oidc_provider: OidcProvider, tmp_path: Path) -> Iterator[str]:
    if not BINARY.exists():
        pytest.fail(
            f"{BINARY} is missing: `cargo build -p oauth-filter-cli` (scripts/test.sh does)"
        )
    server = MCPServer("repos")

    @server.tool()
    def list_repos() -> str:
        """The caller's repositories."""
        return "oauth-filter"

    @server.tool()
    def delete_repo(name: str) -> str:
        """Deletes a repository."""
        return f"deleted {name}"

    with uvicorn_serving(server.streamable_http_app()) as upstream:
        config = tmp_path / "gateway.toml"
        config.write_text(
            textwrap.dedent(
                f"""
                listen = "127.0.0.1:0"
                admin_listen = "127.0.0.1:0"
                [upstream]
                url = "{upstream}"
                [[issuers]]
                issuer = "{oidc_provider.issuer}"
                audience = "{RESOURCE}"
                [resource_metadata]
                resource = "{RESOURCE}"
                [[routes]]
                prefix = "/mcp"
                scopes = ["read"]
                [routes.mcp.tools]
                "delete_repo" = {{ scopes = ["write"] }}
                """
            )
        )
        proc = subprocess.Popen(
            [str(BINARY), "gateway", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if k != "RUST_LOG"},
        )
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        try:
            assert line.startswith("READY "), line
            listen = dict(f.split("=", 1) for f in line.removeprefix("READY ").split())["listen"]
            yield f"http://{listen}/mcp"
        finally:
            proc.terminate()
            proc.wait(timeout=30)


async def call_tools(
    url: str, token: str, tool: str, args: dict[str, str]
) -> tuple[list[str], str]:
    async with (
        create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = [t.name for t in (await session.list_tools()).tools]
        result = await session.call_tool(tool, args)
        text = result.content[0]
        return tools, str(getattr(text, "text", text))


def rpc(method: str, params: dict[str, object], id_: int = 1) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}


def test_without_a_token_the_challenge_points_to_the_metadata(gateway: str) -> None:
    r = httpx.post(gateway, json=rpc("ping", {}), headers=ACCEPT)
    assert r.status_code == 401
    attrs = challenge(r)
    assert attrs["resource_metadata"] == METADATA
    # The client finds the document at the gateway (path-aware form, RFC 9728 §3.1).
    base = gateway.removesuffix("/mcp")
    doc = httpx.get(f"{base}/.well-known/oauth-protected-resource/mcp").json()
    assert doc["resource"] == RESOURCE
    assert doc["authorization_servers"] and doc["authorization_servers"][0].startswith(
        "http://127.0.0.1"
    )
    assert doc["scopes_supported"] == ["read", "write"]
    assert doc["bearer_methods_supported"] == ["header"]


def test_the_sdk_client_lists_tools_and_calls_an_allowed_one(
    gateway: str, oidc_provider: OidcProvider
) -> None:
    token = oidc_provider.token(RESOURCE, "read")
    tools, text = asyncio.run(call_tools(gateway, token, "list_repos", {}))
    assert sorted(tools) == ["delete_repo", "list_repos"]
    assert text == "oauth-filter"
    both = oidc_provider.token(RESOURCE, "read write")
    assert asyncio.run(call_tools(gateway, both, "delete_repo", {"name": "x"}))[1] == "deleted x"


def test_sse_answers_pass_through(gateway: str, oidc_provider: OidcProvider) -> None:
    token = oidc_provider.token(RESOURCE, "read")
    init = rpc(
        "initialize",
        {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    )
    headers = {**ACCEPT, "Authorization": f"Bearer {token}"}
    with httpx.stream("POST", gateway, json=init, headers=headers) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = "".join(r.iter_text())
    assert "event: message" in events and '"serverInfo"' in events


def test_a_tool_whose_scope_the_token_lacks_is_403_with_that_scope(
    gateway: str, oidc_provider: OidcProvider
) -> None:
    token = oidc_provider.token(RESOURCE, "read")
    headers = {**ACCEPT, "Authorization": f"Bearer {token}"}
    r = httpx.post(
        gateway,
        json=rpc("tools/call", {"name": "delete_repo", "arguments": {"name": "x"}}),
        headers=headers,
    )
    assert r.status_code == 403
    attrs = challenge(r)
    assert (attrs["error"], attrs["scope"]) == ("insufficient_scope", "write")
    assert attrs["resource_metadata"] == METADATA
    # In a batch, one forbidden call refuses the whole request.
    batch = [
        rpc("tools/call", {"name": "list_repos"}, 1),
        rpc("tools/call", {"name": "delete_repo"}, 2),
    ]
    assert httpx.post(gateway, json=batch, headers=headers).status_code == 403
    # A body the gateway cannot read as JSON-RPC is not passed on.
    r = httpx.post(
        gateway, content=b"{not json", headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 400
    # The SDK's client sees the refusal too.
    with pytest.raises(Exception):  # noqa: B017 (the SDK raises on the 403)
        asyncio.run(call_tools(gateway, token, "delete_repo", {"name": "x"}))


def test_a_token_for_another_resource_is_401(gateway: str, oidc_provider: OidcProvider) -> None:
    other = oidc_provider.token("https://api.example/es256", "read")
    r = httpx.post(
        gateway, json=rpc("ping", {}), headers={**ACCEPT, "Authorization": f"Bearer {other}"}
    )
    assert r.status_code == 401
    assert challenge(r)["error"] == "invalid_token"
