"""Shared fixtures: the test kit's issuer, a real oidc-provider, a real redis-server."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oauth_filter.testing import TestIssuer

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def issuer() -> Iterator[TestIssuer]:
    with TestIssuer() as i:
        yield i


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    """Waits until something accepts connections on the port (or the process exits)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within 60 s")


@contextlib.contextmanager
def serving(
    what: str, command: list[str], cwd: Path, env: dict[str, str], port: int
) -> Iterator[str]:
    """Runs a server (gunicorn, waitress) until the block ends; yields its loopback URL."""
    proc = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env})
    try:
        wait_for_port(port, proc, what)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def uvicorn_serving(app: Any, port: int | None = None) -> Iterator[str]:
    """Serves an ASGI app with a real uvicorn on loopback (in a thread of this process) until
    the block ends; yields its URL."""
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def get_json(url: str, token: str | None) -> tuple[int, dict[str, object]]:
    """GET with the token as a Bearer credential: the status and the JSON body, or for a refusal
    the status and its WWW-Authenticate header."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, {"www-authenticate": e.headers.get("WWW-Authenticate", "")}


class OidcProvider:
    """oidc-provider 8 from interop/oidc-provider, on loopback."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def token(self, resource: str, scope: str = "read") -> str:
        body = urllib.parse.urlencode(
            {"grant_type": "client_credentials", "scope": scope, "resource": resource}
        ).encode()
        basic = base64.b64encode(b"interop-client:interop-client-secret").decode()
        req = urllib.request.Request(
            f"{self.issuer}/token",
            data=body,
            headers={"Authorization": f"Basic {basic}"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return str(json.load(r)["access_token"])


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    here = ROOT / "interop" / "oidc-provider"
    if not (here / "node_modules" / "oidc-provider").exists():
        pytest.fail("oidc-provider is not installed: npm ci --prefix interop/oidc-provider")
    proc = subprocess.Popen(
        ["node", "server.mjs"], cwd=here, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"oidc-provider did not start: {line!r}")
    try:
        yield OidcProvider(line.removeprefix("READY "))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is missing (Debian package redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc, "redis-server")
        yield f"redis://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def challenge(response: object) -> dict[str, str]:
    """The attributes of a `Bearer` challenge, parsed strictly (RFC 6750 §3)."""
    value = response.headers["WWW-Authenticate"]  # type: ignore[attr-defined]
    assert value.startswith("Bearer "), value
    attrs: dict[str, str] = {}
    for part in value.removeprefix("Bearer ").split(", "):
        name, _, quoted = part.partition("=")
        assert quoted.startswith('"') and quoted.endswith('"'), value
        attrs[name] = quoted[1:-1]
    return attrs
