"""1,000 concurrent requests with one new token under uvicorn: one key fetch, every request
answered, and the event loop never held by a wait for the network (measured)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from conftest import bearer, uvicorn_serving
from oauth_filter.asgi import OAuthFilter, OAuthMiddleware
from oauth_filter.testing import TestIssuer


class Timed:
    """The native filter, with the time each call holds the event loop recorded."""

    def __init__(self, native: Any) -> None:
        self.native = native
        self.has_routes = native.has_routes
        self.held: list[float] = []

    def check_async(self, *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.native.check_async(*args)
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

    async def herd(url: str) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=1000)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            calls = [client.get(f"{url}/who", headers=bearer(token)) for _ in range(1000)]
            return list(await asyncio.gather(*calls))

    with uvicorn_serving(app) as url:
        answers = asyncio.run(herd(url))
    assert [r.status_code for r in answers] == [200] * 1000
    assert {r.text for r in answers} == {"herd"}
    assert issuer.jwks_requests == 1
    held = sorted(timed.held)
    print(
        f"\nevent loop held per check: median {held[len(held) // 2] * 1e6:.0f} us, "
        f"max {held[-1] * 1e6:.0f} us, over {len(held)} checks (keys came after {delay} s)"
    )
    # No check held the loop while the keys were on their way: the waits were awaited.
    assert held[-1] < delay / 2
