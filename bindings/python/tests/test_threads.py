"""Many threads through one filter at once: new and repeated JWTs, opaque tokens, refusals."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import Flask, g

from conftest import bearer
from oauth_filter.flask import OAuthFilter
from oauth_filter.testing import TestIssuer


def test_sixteen_threads_get_their_own_answers(issuer: TestIssuer) -> None:
    jwt = OAuthFilter()
    jwt.configure_with_jwt(issuer.jwks_url, issuer.issuer, "api")
    opaque = OAuthFilter()
    opaque.configure_with_opaque(issuer.introspection_url, issuer.client_id, issuer.client_secret)
    app = Flask(__name__)

    @app.route("/jwt")
    @jwt.protect("read")
    def by_jwt() -> str:
        return str(g.user)

    @app.route("/opaque")
    @opaque.protect("read")
    def by_opaque() -> str:
        return str(g.user)

    shared = issuer.mint("read", subject="shared")

    def worker(n: int) -> list[str]:
        client = app.test_client()
        problems = []
        for i in range(40):
            me = f"t{n}-{i}"
            cases = [
                ("/jwt", issuer.mint("read", subject=me), 200, me),
                ("/jwt", shared, 200, "shared"),
                ("/jwt", issuer.mint("write", subject=me), 403, None),
                ("/opaque", issuer.opaque("read", subject=me), 200, me),
                ("/opaque", issuer.opaque("read", active=False), 401, None),
            ]
            for path, token, status, user in cases:
                r = client.get(path, headers=bearer(token))
                if r.status_code != status or (user is not None and r.data.decode() != user):
                    problems.append(f"{path} {me}: {r.status_code} {r.data!r}")
        return problems

    with ThreadPoolExecutor(max_workers=16) as pool:
        problems = [p for ps in pool.map(worker, range(16)) for p in ps]
    assert problems == []
