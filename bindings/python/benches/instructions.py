"""Instructions per request, counted by callgrind (repeatable, unlike seconds on a shared machine).

Usage: ``python benches/instructions.py [--requests 200]`` (needs valgrind). For each guard of
``app.py`` it runs the app twice under callgrind, driven by Flask's test client in one process
(no gunicorn, no sockets): after 20 warm-up requests, once with no further request and once with
``--requests`` more, and divides the difference by the request count. The test issuer's start
(key generation, which varies with the primes it finds) and the minting of tokens are counted
apart by function and left out.

``BENCH_FRAMEWORK=fastapi``: the guards of ``fastapi_app.py`` (and ``security_noop``, FastAPI's
own cost of a ``Security`` dependency) each under a real uvicorn on loopback, run by callgrind
and driven over one keep-alive connection from this process (which also runs the test issuer):
after 300 warm-up requests the counts are zeroed (``callgrind_control -z``), and after
``--requests`` more they are dumped and divided by the request count. The server's own
per-request cost (uvicorn's HTTP parsing, asyncio) is in every row, as in ``run.py``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WARM_UP = 20
FRAMEWORK = os.environ.get("BENCH_FRAMEWORK", "flask")


def child(guard: str, variant: str, n: int) -> None:
    """The measured process: the app, WARM_UP + n requests."""
    from oauth_filter.testing import TestIssuer

    issuer = TestIssuer(algorithms=["RS256"])
    os.environ.update(BENCH_JWKS=issuer.jwks_url, BENCH_ISSUER=issuer.issuer, BENCH_GUARD=guard)
    sys.path.insert(0, str(HERE))
    import app  # configured by the environment just set

    repeated = f"Bearer {issuer.mint('read')}"
    fresh = (
        [f"Bearer {issuer.mint('read')}" for _ in range(WARM_UP + n)] if variant == "new" else []
    )
    client = app.app.test_client()
    for k in range(WARM_UP + n):
        token = fresh[k] if fresh else repeated
        assert client.get("/hello", headers={"Authorization": token}).status_code == 200


def excluded(out: Path) -> int:
    """Instructions of the issuer's start and of minting (inclusive), from callgrind_annotate."""
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", str(out)], capture_output=True, text=True
    ).stdout
    total = 0
    for name in ("TestIssuer::__pymethod___new____ [", "TestIssuer::__pymethod_mint__ ["):
        line = next((x for x in text.splitlines() if name in x), None)
        if line is not None:
            total += int(line.split()[0].replace(",", ""))
    return total


def counted(guard: str, variant: str, n: int, tmp: Path) -> int:
    out = tmp / f"{guard}-{variant}-{n}.out"
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
         __file__, "--child", guard, variant, str(n)],
        check=True, capture_output=True,
    )  # fmt: skip
    summary = re.search(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
    if summary is None:
        raise SystemExit(f"no callgrind summary in {out}")
    return int(summary.group(1)) - excluded(out)


def served(guard: str, variant: str, n: int, tmp: Path) -> float:
    """Instructions per request of ``fastapi_app.py`` guarded by ``guard`` under uvicorn."""
    import http.client
    import time

    from run import free_port  # run.py, beside this script

    from oauth_filter.testing import TestIssuer

    warm_up = 300
    port = free_port()
    with TestIssuer(algorithms=["RS256"]) as issuer:
        repeated = issuer.mint("read", expires_in=3600)
        tokens = [issuer.mint("read", expires_in=3600) for _ in range(warm_up + n)]
        out = tmp / f"{guard}-{variant}.out"
        env = {
            **os.environ,
            "BENCH_GUARD": guard,
            "BENCH_JWKS": issuer.jwks_url,
            "BENCH_ISSUER": issuer.issuer,
        }
        server = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
             "-m", "uvicorn", "fastapi_app:app", "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "error", "--no-access-log", "--app-dir", str(HERE)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 600
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"uvicorn under callgrind exited with {server.returncode}")
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
                    conn.connect()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("uvicorn under callgrind did not start") from None
                    time.sleep(0.5)

            def send(k: int) -> None:
                token = repeated if variant == "repeated" else tokens[k]
                conn.request("GET", "/hello", headers={"Authorization": f"Bearer {token}"})
                answer = conn.getresponse()
                answer.read()
                if answer.status != 200:
                    raise SystemExit(f"{guard} answered {answer.status}")

            for k in range(warm_up):
                send(k)
            control = ["callgrind_control", str(server.pid)]
            subprocess.run([*control, "--zero"], check=True, capture_output=True)
            for k in range(warm_up, warm_up + n):
                send(k)
            subprocess.run([*control, "--dump"], check=True, capture_output=True)
        finally:
            server.terminate()
            server.wait(timeout=120)
        dump = out.with_name(out.name + ".1")
        summary = re.search(r"^summary: (\d+)", dump.read_text(), re.MULTILINE)
        if summary is None:
            raise SystemExit(f"no callgrind summary in {dump}")
        return int(summary.group(1)) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    runs = [("open", "repeated"), ("oauth_filter", "repeated"), ("oauth_filter", "new")]
    if FRAMEWORK == "fastapi":
        runs.insert(1, ("security_noop", "repeated"))
    else:
        runs += [("flask_of_oil", "new")]
    runs += [("pyjwt", "new")]
    per_request = {}
    with tempfile.TemporaryDirectory() as tmp:
        for guard, variant in runs:
            if FRAMEWORK == "fastapi":
                per_request[(guard, variant)] = served(guard, variant, args.requests, Path(tmp))
            else:
                base = counted(guard, variant, 0, Path(tmp))
                more = counted(guard, variant, args.requests, Path(tmp))
                per_request[(guard, variant)] = (more - base) / args.requests
            print(f"{guard:13} {variant:8} {per_request[(guard, variant)]:12,.0f}", file=sys.stderr)
    open_route = per_request[("open", "repeated")]
    print("\n| guard | token | instructions/request | vs open |")
    print("|---|---|---:|---:|")
    for (guard, variant), n in per_request.items():
        print(f"| {guard} | {variant} | {n:,.0f} | {n / open_route:.2f}x |")
    ours = per_request[("oauth_filter", "new")]
    print()
    print(f"repeated: {open_route / per_request[('oauth_filter', 'repeated')]:.2f}x the open route")
    for guard in ("flask_of_oil", "pyjwt"):
        if (guard, "new") in per_request:
            print(f"new tokens: {per_request[(guard, 'new')] / ours:.2f}x fewer than {guard}")


if __name__ == "__main__":
    main()
