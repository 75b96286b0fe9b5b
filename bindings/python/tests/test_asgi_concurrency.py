"""1,000 concurrent requests with one new token under uvicorn: one key fetch, every request
answered, and the event loop never held by a wait for the network (measured)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from conftest import uvicorn_serving
from oauth_filter.asgi import OAuthFilter, OAuthMiddleware
from oauth_filter.testing import TestIssuer

HERD = """
import asyncio, json, sys
import httpx

async def herd(url, token):
    limits = httpx.Limits(max_connections=1000)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        answers = await asyncio.gather(*[client.get(url, headers=headers) for _ in range(1000)])
    return [(r.status_code, r.text) for r in answers]

print(json.dumps(asyncio.run(herd(sys.argv[1], sys.argv[2]))))
"""


class Timed:
    """The native filter, with the time each call holds the event loop recorded."""

    def __init__(self, native: Any) -> None:
        self.native = native
        self.has_routes = native.has_routes
        self.held: list[float] = []

    def check_scope(self, *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.native.check_scope(*args)
        finally:
            self.held.append(time.perf_counter() - start)


def test_a_thousand_concurrent_requests_with_one_new_token(issuer: TestIssuer) -> None:
    oauth = OAuthFilter()
    oauth.configure_with_jwt(issuer.jwks_url, issuer.issuer, "api")
    timed = Timed(oauth._configured())
    oauth._native = timed  # type: ignore[assignment]

    async def who(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.token.subject)

    app = Starlette(
        routes=[Route("/who", who)],
        middleware=[Middleware(OAuthMiddleware, oauth=oauth, scopes=["read"])],
    )
    token = issuer.mint("read", subject="herd")
    delay = 0.5
    # The keys take a while to come, so that the requests arrive while the first one waits.
    issuer.set_fault("slow", delay)

    with uvicorn_serving(app) as url:
        # The clients run in another process: in this one they would take the GIL from the
        # server's thread, and that wait would count as time the check held the loop.
        answers = json.loads(
            subprocess.run(
                [sys.executable, "-c", HERD, f"{url}/who", token],
                check=True,
                capture_output=True,
                timeout=120,
            ).stdout
        )
    assert [status for status, _ in answers] == [200] * 1000
    assert {text for _, text in answers} == {"herd"}
    assert issuer.jwks_requests == 1
    assert len(timed.held) == 1000
    held = sorted(timed.held)
    print(
        f"\nevent loop held per check: median {held[len(held) // 2] * 1e6:.0f} us, "
        f"max {held[-1] * 1e6:.0f} us, over {len(held)} checks (keys came after {delay} s)"
    )
    # No check held the loop while the keys were on their way: the waits were awaited.
    assert held[-1] < delay / 2
