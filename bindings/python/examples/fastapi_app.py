"""A FastAPI API protected by oauth-filter: ``uvicorn fastapi_app:app``.

The issuer comes from the environment: ``ISSUER``, ``JWKS_URL`` and ``AUDIENCE``. The scopes of
each route appear in ``/openapi.json`` (and in ``/docs``) under the ``oauth_filter`` scheme.
"""

import os

from fastapi import FastAPI, Security

from oauth_filter import Token
from oauth_filter.fastapi import OAuthFilter

oauth = OAuthFilter()
oauth.configure_with_jwt(os.environ["JWKS_URL"], os.environ["ISSUER"], os.environ["AUDIENCE"])
app = FastAPI(title="orders")


@app.get("/orders")
async def list_orders(token: Token = Security(oauth.require, scopes=["read"])) -> dict[str, object]:
    return {"user": token.subject, "scopes": list(token.scopes)}


@app.post("/orders")
async def place_order(
    token: Token = Security(oauth.require, scopes=["write"]),
) -> dict[str, object]:
    return {"placed_by": token.subject}
