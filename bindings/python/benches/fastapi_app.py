"""The FastAPI benchmark's app: one route, guarded as ``BENCH_GUARD`` says.

``open`` (no guard), ``oauth_filter`` (this package's ``Security`` dependency) or ``pyjwt`` (an
``async`` dependency on PyJWT 2's ``PyJWKClient``, as many apps have one). Every guard requires
the ``read`` scope and gives the handler the subject. ``security_noop`` (used by the other
scripts of this directory beside the three): a ``Security`` dependency with ``SecurityScopes``
that checks nothing, FastAPI's own cost of a security dependency.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.security import HTTPBearer, SecurityScopes
from fastapi.security.base import SecurityBase

app = FastAPI()
GUARD = os.environ["BENCH_GUARD"]
JWKS, ISSUER = os.environ["BENCH_JWKS"], os.environ["BENCH_ISSUER"]


async def nobody() -> None:
    return None


if GUARD == "open":
    guard: Any = Depends(nobody)
elif GUARD == "oauth_filter":
    from oauth_filter.fastapi import OAuthFilter

    oauth = OAuthFilter()
    oauth.configure_with_jwt(JWKS, ISSUER, "api")
    guard = Security(oauth.require, scopes=["read"])
elif GUARD == "pyjwt":
    import jwt

    keys = jwt.PyJWKClient(JWKS)

    async def pyjwt_guard(request: Request) -> Any:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(401)
        try:
            key = keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="api", issuer=ISSUER)
        except jwt.PyJWTError:
            raise HTTPException(401) from None
        if "read" not in str(claims.get("scope", "")).split():
            raise HTTPException(403)
        return type("Caller", (), {"subject": claims.get("sub")})

    guard = Depends(pyjwt_guard)
elif GUARD == "security_noop":

    class Noop(SecurityBase):
        def __init__(self) -> None:
            self.model = HTTPBearer().model
            self.scheme_name = "noop"

        async def __call__(self, security_scopes: SecurityScopes, request: Request) -> None:
            return None

    guard = Security(Noop(), scopes=["read"])
else:
    raise SystemExit(f"unknown BENCH_GUARD {GUARD!r}")


@app.get("/hello")
async def hello(caller: Any = guard) -> dict[str, Any]:
    return {"hello": getattr(caller, "subject", None)}
