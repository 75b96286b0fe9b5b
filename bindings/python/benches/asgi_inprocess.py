"""The FastAPI guards' own cost, without a server: each request sent straight to the ASGI app.

Usage: ``python benches/asgi_inprocess.py [--rounds 15] [--batch 400]``. One process holds the
app of ``fastapi_app.py`` once per guard (``open``, ``security_noop``, ``oauth_filter``,
``pyjwt``) and sends each, round after round in a fixed order, a batch of requests (a repeated
token, or a new RS256 token on every request): CPU time per request, the median over the
rounds, and what each adds to the open route. No sockets, no HTTP parser: what is left is the
framework's routing and dependency solving and the guard itself, which a server's numbers
(``run.py``) bury under uvicorn's own per-request cost.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from oauth_filter.testing import TestIssuer

HERE = Path(__file__).resolve().parent
CASES = [
    ("open", "repeated"),
    ("security_noop", "repeated"),
    ("oauth_filter", "repeated"),
    ("oauth_filter", "new"),
    ("pyjwt", "new"),
]


def load(guard: str) -> Any:
    """A fresh import of the app, guarded by ``guard``."""
    os.environ["BENCH_GUARD"] = guard
    sys.modules.pop("fastapi_app", None)
    return importlib.import_module("fastapi_app").app


def scope(token: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/hello",
        "raw_path": b"/hello",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
    }


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def batch(app: Any, tokens: list[str]) -> float:
    """CPU µs per request for ``tokens``; every answer must be a 200."""
    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    start = time.process_time()
    for token in tokens:
        await app(scope(token), receive, send)
    spent = time.process_time() - start
    if set(statuses) != {200}:
        raise SystemExit(f"unexpected answers: {sorted(set(statuses))}")
    return spent / len(tokens) * 1e6


async def main(rounds: int, size: int) -> None:
    issuer = TestIssuer(algorithms=["RS256"])
    os.environ.update(BENCH_JWKS=issuer.jwks_url, BENCH_ISSUER=issuer.issuer)
    sys.path.insert(0, str(HERE))
    apps = {guard: load(guard) for guard, _ in CASES}
    repeated = issuer.mint("read")
    new = sum(1 for _, kind in CASES if kind == "new")
    print(f"minting {size * (rounds + 1) * new} RS256 tokens...", file=sys.stderr)
    fresh = iter([issuer.mint("read") for _ in range(size * (rounds + 1) * new)])
    seen: dict[tuple[str, str], list[float]] = {case: [] for case in CASES}
    for r in range(rounds + 1):  # round 0 warms up (keys fetched, code paths hot)
        for guard, kind in CASES:
            tokens = [repeated] * size if kind == "repeated" else [next(fresh) for _ in range(size)]
            cost = await batch(apps[guard], tokens)
            if r:
                seen[(guard, kind)].append(cost)
    base = statistics.median(seen[("open", "repeated")])
    print(f"\n{rounds} rounds of {size} requests; medians\n")
    print("| guard | token | CPU µs/req | added to the open route |")
    print("|---|---|---:|---:|")
    for guard, kind in CASES:
        cost = statistics.median(seen[(guard, kind)])
        print(f"| {guard} | {kind} | {cost:.1f} | {cost - base:+.1f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=400)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.batch))
