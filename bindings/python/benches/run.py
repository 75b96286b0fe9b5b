"""The Python benchmarks: one app, one server setting, wrk on loopback, in one run.

Usage: ``python benches/run.py [--seconds 5] [--rounds 3]`` (``scripts/bench-python.sh`` sets up
the venv). Each guard of ``app.py`` runs in its own gunicorn (one worker process, so one core
serves while wrk drives from the other): by default a gthread worker with one thread and
keep-alive, as behind a proxy that reuses connections; ``BENCH_WORKER=sync`` gives gunicorn's
default sync worker instead (a connection per request, gunicorn's own per-request cost lower).
All are started at once and measured in short wrk bursts, round after round:
with a repeated token and with a new RS256 token on every request (never one the server saw);
``open`` is the same route without a guard, sent the same header. Reports req/s and the
worker's CPU time per request (user + system, from /proc): medians over the rounds, and ratios
taken within each round (their median).

``BENCH_FRAMEWORK=fastapi``: the FastAPI app (``fastapi_app.py``: open route, a ``Security``
dependency that checks nothing (FastAPI's own share), this package's ``Security`` dependency, a
PyJWT dependency) under one uvicorn process each, same method. Servers run on CPU 0, wrk on CPU 1.

``--paired N``: N more rounds in which the two comparisons with targets run side by side (our
guard and the open route at once, then our guard and PyJWT's on new tokens at once), so that the
machine's speed, which moves by tens of per cent from one second to the next on a shared host,
is the same for both sides of each ratio. Each paired round starts its servers afresh: two
processes of the same app differ by a few per cent in speed for as long as they live (their
memory layout and hash seed; two ``open`` servers side by side measured 0.95x..1.0x of each
other), so one pair of processes for all rounds would put its own bias into every round. The
rounds also pair two fresh ``open`` servers, the control: its median shows what is left of
that bias.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from oauth_filter.testing import TestIssuer

HERE = Path(__file__).resolve().parent
# BENCH_FRAMEWORK=fastapi: the FastAPI app (fastapi_app.py) under one uvicorn process instead.
FRAMEWORK = os.environ.get("BENCH_FRAMEWORK", "flask")
TICKS = os.sysconf("SC_CLK_TCK")
# Every server on CPU 0 and wrk on CPU 1, as the Rust benchmarks pin them (scripts/bench-*.sh):
# the scheduler then never puts wrk beside the server under test, which moved single rounds by
# several per cent. On a one-core machine nothing is pinned.
PIN = len(os.sched_getaffinity(0)) >= 2


def pinned(cpu: int, command: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *command] if PIN else command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    host, port = url.removeprefix("http://").split(":")
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}")
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("gunicorn did not start")


def wrk_command(url: str, seconds: int, token: str | None) -> list[str]:
    """wrk for ``seconds``: ``token`` on every request, or (None) the next of the token file
    (``BENCH_TOKENS``) on each."""
    cmd = pinned(1, ["wrk", "-t1", "-c4", f"-d{seconds}s", "--latency"])
    if token is None:
        cmd += ["-s", str(HERE / "tokens.lua")]
    else:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    return [*cmd, f"{url}/hello"]


def wrk_result(out: str) -> tuple[int, float]:
    """(requests, req/s) of one wrk run's report; errors and a short token file end the run."""
    if "Non-2xx" in out or ("Socket errors" in out and "timeout" in out):
        raise SystemExit(f"wrk saw errors:\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    counts = re.search(r"TOKENS (\d+) REQUESTS (\d+)", out)
    if counts and int(counts.group(2)) > int(counts.group(1)):
        raise SystemExit(f"not enough tokens: {counts.group(0)}; mint more")
    return requests, rps


def wrk(url: str, seconds: int, env: dict[str, str], token: str | None) -> tuple[int, float]:
    """One wrk run: ``token`` on every request, or (None) the next of the token file each."""
    out = subprocess.run(
        wrk_command(url, seconds, token), env=env, check=True, capture_output=True, text=True
    ).stdout
    return wrk_result(out)


class Server:
    """One guard's gunicorn, started once and measured in bursts."""

    def __init__(self, guard: str, issuer: TestIssuer) -> None:
        self.guard = guard
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "BENCH_GUARD": guard,
            "BENCH_JWKS": issuer.jwks_url,
            "BENCH_ISSUER": issuer.issuer,
        }
        if FRAMEWORK == "fastapi":
            command = [
                sys.executable, "-m", "uvicorn", "fastapi_app:app", "--host", "127.0.0.1",
                "--port", str(port), "--log-level", "error", "--no-access-log",
                "--app-dir", str(HERE),
            ]  # fmt: skip
        else:
            worker = os.environ.get("BENCH_WORKER", "gthread")
            extra = ["--threads", "1", "--keep-alive", "30"] if worker == "gthread" else []
            command = [
                sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", worker,
                *extra, "--bind", f"127.0.0.1:{port}",
                "--log-level", "error", "--chdir", str(HERE), "app:app",
            ]  # fmt: skip
        self.proc = subprocess.Popen(pinned(0, command), env=self.env)
        wait_ready(self.url, self.proc)
        if FRAMEWORK == "fastapi":
            self.worker = self.proc.pid  # uvicorn serves in its own process
        else:
            # The master listens before it forks its worker: wait for the worker too.
            while not children(self.proc.pid):
                time.sleep(0.05)
            (self.worker,) = children(self.proc.pid)
        wrk(self.url, 1, self.env, issuer.mint("read"))  # warm up (and fetch the keys)

    def burst(self, seconds: int, token: str | None, tokens: Path) -> tuple[float, float]:
        """(req/s, CPU us per request) of one wrk run: ``token`` on every request, or each
        request the next line of ``tokens``."""
        before = cpu_seconds(self.worker)
        requests, rps = wrk(self.url, seconds, {**self.env, "BENCH_TOKENS": str(tokens)}, token)
        return rps, (cpu_seconds(self.worker) - before) / requests * 1e6

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def paired(runs: list[tuple[Server, str | None]], seconds: int, tokens: Path) -> list[float]:
    """req/s of each run, all driven at once: their servers share CPU 0 (the scheduler gives
    each an equal share), so a slow second of the machine slows all of them alike, and the
    ratio of two is the ratio of their costs per request."""
    procs = [
        subprocess.Popen(
            wrk_command(server.url, seconds, token),
            env={**server.env, "BENCH_TOKENS": str(tokens)},
            stdout=subprocess.PIPE,
            text=True,
        )
        for server, token in runs
    ]
    outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit("wrk failed")
    return [wrk_result(out)[1] for out in outs]


def report(
    rounds: dict[tuple[str, str], list[tuple[float, float]]], args: argparse.Namespace
) -> None:
    """The table (markdown) and the ratios the issue sets targets for. Ratios are taken within
    each round (the runs of a round are a minute apart) and their median is reported, so that
    the machine's speed drifting between rounds does not enter them."""

    def median(values: list[float]) -> float:
        return float(statistics.median(values))

    def ratio(a: tuple[str, str], b: tuple[str, str], field: int = 0) -> float:
        return median([x[field] / y[field] for x, y in zip(rounds[a], rounds[b])])

    open_route = ("open", "open")
    print(f"\n{args.rounds} rounds, {args.seconds} s each; medians\n")
    print("| guard | token | req/s | CPU us/req | req/s vs open | CPU vs open |")
    print("|---|---|---:|---:|---:|---:|")
    for key, values in rounds.items():
        rps, cpu = median([v[0] for v in values]), median([v[1] for v in values])
        print(
            f"| {key[0]} | {key[1]} | {rps:.0f} | {cpu:.0f} | {ratio(key, open_route):.2f}x "
            f"| {ratio(key, open_route, 1):.2f}x |"
        )
    new = ("oauth_filter", "new")
    print()
    repeated = ratio(("oauth_filter", "repeated"), open_route)
    print(f"repeated token vs open route: {repeated:.2f}x req/s (target >= 0.95x)")
    for guard, target in (("flask_of_oil", 3.0), ("pyjwt", 1.5)):
        other = (guard, "new")
        if other not in rounds:
            continue
        print(
            f"new tokens vs {guard}: {ratio(new, other):.2f}x req/s (target >= {target}x), "
            f"{ratio(other, new, 1):.2f}x less CPU per request"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=7)
    # Tokens per burst of new tokens: at least the requests of one burst (wrk() refuses a
    # burst that would reuse one); every burst against this package gets its own.
    parser.add_argument("--tokens", type=int, default=6_000)
    # Rounds after the others in which the two comparisons the issue sets targets for run
    # side by side (paired()): our guard and the open route (one token) at once, then our guard
    # and PyJWT's (new tokens) at once.
    parser.add_argument("--paired", type=int, default=0)
    args = parser.parse_args()
    guards = ["open", "oauth_filter", "flask_of_oil", "pyjwt"]
    if FRAMEWORK == "fastapi":
        # FastAPI's own cost of a `Security` dependency (one that checks nothing), beside ours.
        guards[guards.index("flask_of_oil")] = "security_noop"
    with TestIssuer(algorithms=["RS256"]) as issuer, tempfile.TemporaryDirectory() as tmp:
        bursts = args.rounds + 1 + args.paired
        print(f"minting {args.tokens * bursts} RS256 tokens...", file=sys.stderr)
        files = []
        for n in range(bursts):
            path = Path(tmp) / f"tokens-{n}.txt"
            minted = (issuer.mint("read", expires_in=3600) for _ in range(args.tokens))
            path.write_text("\n".join(minted))
            files.append(path)
        repeated = issuer.mint("read", expires_in=3600)
        servers = {g: Server(g, issuer) for g in guards}
        runs = [("open", "open")] + [
            (g, v)
            for g in guards[1:]
            for v in ("repeated", "new")
            if not (g == "security_noop" and v == "new")  # it reads no token
        ]
        rounds: dict[tuple[str, str], list[tuple[float, float]]] = {run: [] for run in runs}
        try:
            for r in range(args.rounds):
                # Every run of a round within seconds of the others, in a rotating order, so
                # that the machine's drift spreads over all of them.
                for guard, variant in runs[r % len(runs) :] + runs[: r % len(runs)]:
                    # The open route gets the same Authorization header (unread).
                    token = None if variant == "new" else repeated
                    rps, cpu = servers[guard].burst(args.seconds, token, files[r])
                    rounds[(guard, variant)].append((rps, cpu))
                    line = f"round {r + 1} {guard:13} {variant:8} {rps:8.0f} req/s {cpu:6.0f} us"
                    print(line, file=sys.stderr)
            pairs: dict[str, list[float]] = {"repeated": [], "new": [], "control": []}
            other = "pyjwt"
            for r in range(args.paired):
                tokens = files[args.rounds + 1 + r]
                for kind, (a, b), token in (
                    ("repeated", ("oauth_filter", "open"), repeated),
                    ("new", ("oauth_filter", other), None),
                    ("control", ("open", "open"), repeated),
                ):
                    fresh: list[Server] = []
                    try:
                        fresh += [Server(a, issuer), Server(b, issuer)]
                        x, y = paired([(s, token) for s in fresh], args.seconds, tokens)
                    finally:
                        for server in fresh:
                            server.stop()
                    pairs[kind].append(x / y)
                print(
                    f"paired {r + 1}: repeated/open {pairs['repeated'][-1]:.3f}, "
                    f"new/{other} {pairs['new'][-1]:.3f}, open/open {pairs['control'][-1]:.3f}",
                    file=sys.stderr,
                )
        finally:
            for server in servers.values():
                server.stop()
    report(rounds, args)
    if args.paired:

        def spread(kind: str) -> str:
            values = pairs[kind]
            return f"{statistics.median(values):.3f}x ({min(values):.2f}..{max(values):.2f})"

        print(
            f"\npaired rounds ({args.paired}, both at once on CPU 0, fresh servers each; medians "
            f"(min..max)): repeated token {spread('repeated')} the open route (target >= 0.95x), "
            f"new tokens {spread('new')} {other} (target >= 1.5x); control, open route against "
            f"open route: {spread('control')}"
        )


if __name__ == "__main__":
    main()
