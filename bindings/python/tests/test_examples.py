"""The README's examples (``bindings/python/examples``), each started by a real uvicorn in its
own process, answer as the README says."""

from __future__ import annotations

import asyncio
import sys
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from conftest import bearer, challenge, free_port, serving
from oauth_filter.testing import TestIssuer
from test_mcp import call_whoami

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def uvicorn(module: str, port: int, env: dict[str, str]) -> AbstractContextManager[str]:
    command = [sys.executable, "-m", "uvicorn", f"{module}:app", "--port", str(port)]
    command += ["--host", "127.0.0.1", "--log-level", "warning"]
    return serving("uvicorn", command, EXAMPLES, env, port)


def env_for(issuer: TestIssuer, **more: str) -> dict[str, str]:
    return {"ISSUER": issuer.issuer, "JWKS_URL": issuer.jwks_url, "AUDIENCE": "api", **more}


def test_starlette_example(issuer: TestIssuer) -> None:
    port = free_port()
    with uvicorn("starlette_app", port, env_for(issuer)) as url:
        r = httpx.get(f"{url}/orders", headers=bearer(issuer.mint("read", subject="s")))
        assert (r.status_code, r.json()) == (200, {"user": "s", "scopes": ["read"]})
        assert httpx.get(f"{url}/orders").status_code == 401
        ws = url.replace("http", "ws") + "/ws"
        with pytest.raises(InvalidStatus):
            connect(ws)
        with connect(ws, additional_headers=bearer(issuer.mint("read", subject="w"))) as c:
            c.send("hello")
            assert c.recv() == "w: hello"


def test_fastapi_example(issuer: TestIssuer) -> None:
    port = free_port()
    with uvicorn("fastapi_app", port, env_for(issuer)) as url:
        r = httpx.get(f"{url}/orders", headers=bearer(issuer.mint("read", subject="f")))
        assert (r.status_code, r.json()) == (200, {"user": "f", "scopes": ["read"]})
        r = httpx.post(f"{url}/orders", headers=bearer(issuer.mint("read")))
        assert r.status_code == 403 and challenge(r)["scope"] == "write"
        doc = httpx.get(f"{url}/openapi.json").json()
        assert doc["paths"]["/orders"]["post"]["security"] == [{"oauth_filter": ["write"]}]


def test_mcp_example(issuer: TestIssuer) -> None:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    with uvicorn("mcp_server", port, env_for(issuer, RESOURCE=resource)):
        token = issuer.mint("read", subject="m", audience=resource)
        assert asyncio.run(call_whoami(resource, token)) == "m"
        r = httpx.post(resource, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert r.status_code == 401
