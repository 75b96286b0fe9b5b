"""A real waitress on loopback: one process, many threads, one filter shared by all of them."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import free_port, get_json, serving
from oauth_filter.testing import TestIssuer

APP = textwrap.dedent(
    """
    import os
    import threading
    from flask import Flask, g, request
    from oauth_filter.flask import OAuthFilter

    app = Flask(__name__)
    jwt = OAuthFilter()
    jwt.configure_with_jwt(os.environ["JWKS"], os.environ["ISSUER"], "api")
    opaque = OAuthFilter()
    opaque.configure_with_opaque(
        os.environ["INTROSPECTION"], os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"]
    )
    ran = {"jwt": 0, "opaque": 0}
    lock = threading.Lock()

    @app.route("/jwt")
    @jwt.protect("read", claims={"tenant": None})
    def by_jwt():
        with lock:
            ran["jwt"] += 1
        return {"user": g.user, "tenant": request.claims["tenant"], "thread": threading.get_ident()}

    @app.route("/opaque")
    @opaque.protect("read")
    def by_opaque():
        with lock:
            ran["opaque"] += 1
        return {"user": g.user, "thread": threading.get_ident()}

    @app.route("/ran")
    def views_ran():
        return ran
    """
)


@pytest.fixture
def waitress(tmp_path: Path, issuer: TestIssuer) -> Iterator[str]:
    (tmp_path / "app.py").write_text(APP)
    port = free_port()
    env = {
        "JWKS": issuer.jwks_url,
        "ISSUER": issuer.issuer,
        "INTROSPECTION": issuer.introspection_url,
        "CLIENT_ID": issuer.client_id,
        "CLIENT_SECRET": issuer.client_secret,
    }
    command = [sys.executable, "-m", "waitress", "--threads=8", f"--listen=127.0.0.1:{port}"]
    with serving("waitress", [*command, "app:app"], tmp_path, env, port) as url:
        yield url


def test_threads_of_one_waitress_get_their_own_answers(waitress: str, issuer: TestIssuer) -> None:
    shared = issuer.mint("read", subject="shared", claims={"tenant": "t-shared"})
    cases: list[tuple[str, str | None, int, str | None]] = []
    for i in range(60):
        me = f"u{i}"
        cases += [
            ("/jwt", issuer.mint("read", subject=me, claims={"tenant": f"t-{me}"}), 200, me),
            ("/jwt", shared, 200, "shared"),
            ("/jwt", issuer.mint("write", subject=me, claims={"tenant": "x"}), 403, None),
            ("/jwt", issuer.mint("read", subject=me), 403, None),  # no tenant claim
            ("/jwt", None, 401, None),
            ("/opaque", issuer.opaque("read", subject=me), 200, me),
            ("/opaque", issuer.opaque("read", active=False), 401, None),
        ]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda c: get_json(f"{waitress}{c[0]}", c[1]), cases))
    threads: set[object] = set()
    for (path, _, status, user), (got, body) in zip(cases, answers):
        assert got == status, (path, user, body)
        if user is not None:
            assert body["user"] == user, (path, body)
            if path == "/jwt":
                tenant = "t-shared" if user == "shared" else f"t-{user}"
                assert body["tenant"] == tenant, body
            threads.add(body["thread"])
        elif status == 401 and path == "/jwt":
            assert str(body["www-authenticate"]).startswith("Bearer"), body
    assert len(threads) > 1, "every answer came from one thread"
    # A view ran once for each allowed request, and never for a refused one.
    allowed = {
        p: sum(1 for c in cases if c[0] == f"/{p}" and c[2] == 200) for p in ("jwt", "opaque")
    }
    assert get_json(f"{waitress}/ran", None) == (200, allowed)
