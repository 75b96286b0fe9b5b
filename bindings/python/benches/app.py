"""The benchmark's Flask app: one route, guarded as ``BENCH_GUARD`` says.

``open`` (no guard), ``oauth_filter`` (this package), ``flask_of_oil`` (flask-of-oil 1.2.2), or
``pyjwt`` (a hand-written decorator on PyJWT 2's ``PyJWKClient``, as many apps have one). Every
guard requires the ``read`` scope and gives the handler the subject.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

from flask import Flask, abort, g, request

app = Flask(__name__)
GUARD = os.environ["BENCH_GUARD"]
JWKS, ISSUER = os.environ["BENCH_JWKS"], os.environ["BENCH_ISSUER"]


def hello() -> dict[str, Any]:
    return {"hello": getattr(g, "user", None)}


if GUARD == "open":
    guarded: Callable[..., Any] = hello
elif GUARD == "oauth_filter":
    from oauth_filter.flask import OAuthFilter

    oauth = OAuthFilter()
    oauth.configure_with_jwt(JWKS, ISSUER, "api")
    guarded = oauth.protect(["read"])(hello)
elif GUARD == "flask_of_oil":
    from flask_of_oil.oauth_filter import OAuthFilter as OilFilter  # type: ignore[import-untyped]

    oil = OilFilter(verify_ssl=True)
    oil.configure_with_jwt(JWKS, ISSUER, "api")

    @functools.wraps(hello)
    def guarded() -> dict[str, Any]:
        oil.filter(scopes=["read"])
        g.user = request.claims["sub"]  # type: ignore[attr-defined]
        return hello()

elif GUARD == "pyjwt":
    import jwt

    keys = jwt.PyJWKClient(JWKS)

    @functools.wraps(hello)
    def guarded() -> dict[str, Any]:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            abort(401)
        try:
            key = keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="api", issuer=ISSUER)
        except jwt.PyJWTError:
            abort(401)
        if "read" not in str(claims.get("scope", "")).split():
            abort(403)
        g.user = claims.get("sub")
        return hello()

else:
    raise SystemExit(f"unknown BENCH_GUARD {GUARD!r}")

app.add_url_rule("/hello", "hello", guarded)
