"""The asyncio path of the native filter (``Filter.check_async``): an answer that needs no I/O
comes back at once; one that does is an awaitable the process's runtime completes while the
event loop goes on."""

from __future__ import annotations

import asyncio
import contextlib
import inspect

from conftest import bearer
from oauth_filter import _native
from oauth_filter._native import Rejection, Token
from oauth_filter.testing import TestIssuer

READ = _native.Requirement.flask_of_oil(["read"], {})


def native(issuer: TestIssuer) -> _native.Filter:
    return _native.Filter.from_mapping(
        {"issuers": [{"issuer": issuer.issuer, "jwks_url": issuer.jwks_url, "audience": "api"}]}
    )


def check(f: _native.Filter, token: str | None) -> object:
    auth = bearer(token)["Authorization"] if token else None
    return f.check_async(auth, None, "GET", "/", READ)


def test_a_miss_is_awaited_and_a_hit_answers_at_once(issuer: TestIssuer) -> None:
    f = native(issuer)
    token = issuer.mint("read", subject="async")

    async def main() -> None:
        first = check(f, token)
        assert inspect.isawaitable(first)  # the keys are not in hand yet
        answer = await first
        assert isinstance(answer, Token) and answer.subject == "async"
        again = check(f, token)  # a verified-token cache hit
        assert isinstance(again, Token) and again.subject == "async"
        fresh = check(f, issuer.mint("read", subject="new"))  # keys in hand: no I/O either
        assert isinstance(fresh, Token) and fresh.subject == "new"
        refused = check(f, None)
        assert isinstance(refused, Rejection) and refused.status == 401

    asyncio.run(main())
    assert issuer.jwks_requests == 1


def test_the_event_loop_runs_while_keys_are_fetched(issuer: TestIssuer) -> None:
    f = native(issuer)
    issuer.set_fault("slow", 1.0)
    order: list[str] = []

    async def other() -> None:
        order.append("other task ran")

    async def main() -> None:
        pending = check(f, issuer.mint("read"))
        assert inspect.isawaitable(pending)
        task = asyncio.ensure_future(other())
        answer = await pending
        order.append("check answered")
        await task
        assert isinstance(answer, Token), answer

    asyncio.run(main())
    assert order == ["other task ran", "check answered"]


def test_an_outage_is_503_and_recovery_needs_no_restart(issuer: TestIssuer) -> None:
    f = native(issuer)
    token = issuer.mint("read", subject="back")

    async def main() -> None:
        issuer.set_fault("down")
        down = await asyncio.ensure_future(_resolve(check(f, token)))
        assert isinstance(down, Rejection) and down.status == 503
        issuer.set_fault(None)
        # The filter retries after its backoff; wait for the condition, not for a fixed time.
        for _ in range(600):
            up = await _resolve(check(f, token))
            if isinstance(up, Token):
                break
            assert isinstance(up, Rejection) and up.status == 503
            await asyncio.sleep(0.05)
        assert isinstance(up, Token) and up.subject == "back"

    asyncio.run(main())


async def _resolve(answer: object) -> object:
    return await answer if inspect.isawaitable(answer) else answer


def test_many_waiters_for_one_new_token_make_one_fetch(issuer: TestIssuer) -> None:
    f = native(issuer)
    token = issuer.mint("read", subject="many")

    async def main() -> list[object]:
        return list(await asyncio.gather(*(_resolve(check(f, token)) for _ in range(500))))

    answers = asyncio.run(main())
    assert all(isinstance(a, Token) and a.subject == "many" for a in answers)
    assert issuer.jwks_requests == 1


def test_a_cancelled_wait_leaves_the_filter_working(issuer: TestIssuer) -> None:
    f = native(issuer)
    issuer.set_fault("slow", 1.0)

    async def main() -> None:
        pending = asyncio.ensure_future(_resolve(check(f, issuer.mint("read"))))
        await asyncio.sleep(0)
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pending
        issuer.set_fault(None)
        answer = await _resolve(check(f, issuer.mint("read", subject="after")))
        assert isinstance(answer, Token) and answer.subject == "after"

    asyncio.run(main())
