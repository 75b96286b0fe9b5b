"""A Starlette API protected by oauth-filter: ``uvicorn starlette_app:app``.

The issuer comes from the environment: ``ISSUER`` (its URL), ``JWKS_URL`` (its keys) and
``AUDIENCE`` (this API's name in its tokens). ``GET /orders`` needs the ``read`` scope;
``/ws`` is a WebSocket echo that needs it too.
"""

import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from oauth_filter.asgi import OAuthFilter, OAuthMiddleware

oauth = OAuthFilter()
oauth.configure_with_jwt(os.environ["JWKS_URL"], os.environ["ISSUER"], os.environ["AUDIENCE"])


async def orders(request: Request) -> JSONResponse:
    token = request.state.token
    return JSONResponse({"user": token.subject, "scopes": list(token.scopes)})


async def echo(ws: WebSocket) -> None:
    await ws.accept()
    async for text in ws.iter_text():
        await ws.send_text(f"{ws.state.token.subject}: {text}")


app = Starlette(
    routes=[Route("/orders", orders), WebSocketRoute("/ws", echo)],
    middleware=[Middleware(OAuthMiddleware, oauth=oauth, scopes=["read"])],
)
