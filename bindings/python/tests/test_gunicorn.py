"""A real gunicorn on loopback: --preload, several worker processes, threads in each."""

from __future__ import annotations

import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import free_port, get_json, serving
from oauth_filter.testing import TestIssuer

APP = textwrap.dedent(
    """
    import os
    from flask import Flask, g
    from oauth_filter.flask import OAuthFilter

    app = Flask(__name__)
    oauth = OAuthFilter()
    oauth.configure_with_jwt(os.environ["JWKS"], os.environ["ISSUER"], "api", scopes=["read"])
    app.before_request(oauth.filter)

    # Used in the master before the fork: its runtime, keys and cache must not leak into the
    # workers (a runtime's threads do not survive fork).
    answer = oauth._configured().check("Bearer " + os.environ["PRE_FORK_TOKEN"], None, "GET", "/")
    assert answer.subject == "pre-fork", answer

    @app.route("/who")
    def who():
        return {"pid": os.getpid(), "user": g.user}
    """
)


@pytest.fixture
def gunicorn(tmp_path: Path, issuer: TestIssuer) -> Iterator[str]:
    (tmp_path / "app.py").write_text(APP)
    port = free_port()
    env = {
        "JWKS": issuer.jwks_url,
        "ISSUER": issuer.issuer,
        "PRE_FORK_TOKEN": issuer.mint("read", subject="pre-fork"),
    }
    command = [sys.executable, "-m", "gunicorn", "--preload", "--workers", "3", "--threads", "4"]
    command += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning", "app:app"]
    with serving("gunicorn", command, tmp_path, env, port) as url:
        yield url


def test_every_worker_decides_for_itself_after_a_preloaded_fork(
    gunicorn: str, issuer: TestIssuer
) -> None:
    jwks_before = issuer.jwks_requests  # the master's own fetch
    # A key the master never saw: a worker still holding the master's key set (fetched moments
    # ago, so within its refetch cooldown) would refuse these tokens.
    issuer.rotate("ES256")
    repeated = issuer.mint("read", subject="repeat")
    pids: set[int] = set()
    deadline = time.monotonic() + 60
    with ThreadPoolExecutor(max_workers=12) as pool:
        while len(pids) < 3 and time.monotonic() < deadline:
            fresh = [(issuer.mint("read", subject=f"u{i}"), f"u{i}") for i in range(24)]
            sent = fresh + [(repeated, "repeat")] * 24
            for (status, body), (_, subject) in zip(
                pool.map(lambda s: get_json(f"{gunicorn}/who", s[0]), sent), sent
            ):
                assert status == 200, body
                assert body["user"] == subject, body
                pids.add(int(str(body["pid"])))
    assert len(pids) == 3, f"answers came from {len(pids)} workers"
    # Each worker fetched keys itself: nothing of the master's state was used after fork.
    assert issuer.jwks_requests - jwks_before >= 3
    # Refusals from the workers too.
    assert get_json(f"{gunicorn}/who", None)[0] == 401
    status, body = get_json(f"{gunicorn}/who", issuer.mint("write"))
    assert status == 403 and 'scope="read"' in str(body["www-authenticate"])
    assert get_json(f"{gunicorn}/who", issuer.mint("read", expires_in=-600))[0] == 401
