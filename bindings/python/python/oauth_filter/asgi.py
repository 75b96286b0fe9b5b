"""ASGI: protects a Starlette, FastAPI or any ASGI app, HTTP and WebSocket, on the Rust core.

Example::

    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from oauth_filter.asgi import OAuthFilter, OAuthMiddleware

    oauth = OAuthFilter()
    oauth.configure_with_jwt("https://idp.example/jwks", "https://idp.example", "api")

    async def orders(request):
        return JSONResponse({"user": request.state.token.subject})

    app = Starlette(
        routes=[Route("/orders", orders)],
        middleware=[Middleware(OAuthMiddleware, oauth=oauth, scopes=["read"])],
    )

The verified :class:`oauth_filter.Token` is ``scope["state"]["token"]`` (``request.state.token``
in Starlette and FastAPI). A refused HTTP request gets the RFC 6750 answer (401 with the
``WWW-Authenticate`` challenge, 403 ``insufficient_scope``, 503 with ``Retry-After`` when keys
or introspection are unavailable) and a JSON body ``{"error": ..., "error_description": ...}``;
a refused WebSocket handshake gets the same answer as an HTTP response where the server
supports the ``websocket.http.response`` extension (uvicorn, hypercorn), else a close with
code 1008, before ``accept`` either way. ``on_reject`` replaces the answer.

Without ``scopes``, ``claims`` or ``require``, a configuration with ``routes`` (the gateway's
route model, :meth:`OAuthFilter.from_config`) decides per path, including public paths;
otherwise the one requirement applies to every path.

Verification never blocks the event loop: a verified-token cache hit, or a JWT whose issuer's
keys are in hand, is answered at once; anything that needs the network is awaited on the
extension's own runtime (one per process; the GIL is not held while it waits).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping, MutableMapping
from typing import Any, Callable, Optional, Union

from ._base import Claims, FilterBase, Scopes, _claims, _scopes
from ._native import ConfigurationError, Rejection, Requirement, Token

__all__ = ["ConfigurationError", "OAuthFilter", "OAuthMiddleware", "Rejection", "Token"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
# Any: each framework types its scopes and messages its own way (TypedDicts, mappings).
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

Answer = Union[Token, Rejection, None]
"""A decision: the verified token, the refusal, or None (a public route)."""

_log = logging.getLogger("oauth_filter")


class OAuthFilter(FilterBase):
    """A filter for asyncio code: the configuration methods are the Flask extension's
    (``configure_with_jwt``, ``configure_with_multiple_jwt_issuers``, ``configure_with_opaque``,
    ``from_config``, ``from_toml``); :meth:`check` decides a request without blocking the event
    loop. Used by :class:`OAuthMiddleware`, ``oauth_filter.fastapi`` and ``oauth_filter.mcp``.
    """

    def requirement(
        self,
        scopes: Scopes = None,
        claims: Claims = None,
        require: Optional[Mapping[str, Any]] = None,
    ) -> Optional[Requirement]:
        """What :meth:`check` requires: every one of ``scopes``, each of ``claims`` present
        (``None``) or equal, and ``require`` in the gateway's route vocabulary (``claims``,
        ``acr_values``, ``max_auth_age_secs``, ``client_ids``, ``any_scopes``…). Nothing given:
        the configured default scopes, or None (each path's route) for a configuration with
        ``routes``."""
        if scopes is None and claims is None and require is None:
            return None if self._configured().has_routes else self._default
        names = self._scopes if scopes is None else _scopes(scopes, "requirement")
        requirement = Requirement.flask_of_oil(names, _claims(claims, "requirement"))
        if require is not None:
            requirement = requirement.both(Requirement.from_keys(require))
        return requirement

    async def check(
        self,
        authorization: Optional[str],
        *,
        query: Optional[str] = None,
        method: str = "GET",
        path: str = "/",
        requirement: Optional[Requirement] = None,
        dpop: Optional[str] = None,
    ) -> Answer:
        """Decides a request from its ``Authorization`` header (``None``: absent), query string,
        method and path as sent (percent-encoded), and its ``DPoP`` header when the
        configuration has ``dpop``. ``requirement`` None: the request's route when the
        configuration has ``routes``, else any valid token."""
        answer = self._configured().check_async(
            authorization, query, method, path, requirement, dpop=dpop
        )
        # An answer at once (the usual case: a cache hit, keys in hand, a refusal), else an
        # awaitable; the type test is cheaper than `inspect.isawaitable` on every request.
        if answer is None or isinstance(answer, (Token, Rejection)):
            return answer
        return await answer

    async def _check_scope(self, scope: Scope, requirement: Optional[Requirement]) -> Answer:
        """:meth:`check` for an ASGI connection scope (HTTP or WebSocket), read by the core:
        its ``authorization`` headers, ``query_string``, ``method`` and ``raw_path`` (or
        ``path``)."""
        answer = self._configured().check_scope(scope, requirement)
        if answer is None or isinstance(answer, (Token, Rejection)):
            return answer
        return await answer

    async def verify(self, token: str, requirement: Optional[Requirement] = None) -> Answer:
        """Decides a bare access token (as an MCP server's verifier receives it), as though it
        came in ``Authorization: Bearer``."""
        return await self.check(f"Bearer {token}", requirement=requirement)


def _headers(rejection: Rejection) -> list[tuple[bytes, bytes]]:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in rejection.headers]
    headers.append((b"content-type", b"application/json"))
    headers.append((b"content-length", str(len(rejection.body)).encode()))
    return headers


class OAuthMiddleware:
    """ASGI middleware requiring a valid access token on every HTTP request and WebSocket
    handshake (``lifespan`` passes through).

    ``scopes``, ``claims``, ``require``: as :meth:`OAuthFilter.requirement`. ``on_reject``: an
    async function ``(rejection, scope, receive, send)`` that answers a refused request
    instead of the default RFC 6750 answer.
    """

    def __init__(
        self,
        app: ASGIApp,
        oauth: OAuthFilter,
        scopes: Scopes = None,
        claims: Claims = None,
        require: Optional[Mapping[str, Any]] = None,
        on_reject: Optional[Callable[[Rejection, Scope, Receive, Send], Awaitable[None]]] = None,
    ) -> None:
        self.app = app
        self.oauth = oauth
        self.on_reject = on_reject
        self._requirement = oauth.requirement(scopes, claims, require)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        answer = await self.oauth._check_scope(scope, self._requirement)
        if isinstance(answer, Rejection):
            _log.info(
                "request rejected: status=%d reason=%s type=%s path=%r",
                answer.status,
                answer.reason,
                kind,
                scope.get("path"),
            )
            if self.on_reject is not None:
                await self.on_reject(answer, scope, receive, send)
            elif kind == "http":
                await send(
                    {
                        "type": "http.response.start",
                        "status": answer.status,
                        "headers": _headers(answer),
                    }
                )
                await send({"type": "http.response.body", "body": answer.body})
            else:
                await _refuse_websocket(answer, scope, send)
            return
        if answer is not None:
            state = scope.setdefault("state", {})
            state["token"] = answer
        await self.app(scope, receive, send)


async def _refuse_websocket(rejection: Rejection, scope: Scope, send: Send) -> None:
    """Refuses a handshake before ``accept``: with the HTTP answer where the server can send
    one (the ``websocket.http.response`` extension), else with close code 1008 (policy
    violation), which the server turns into a 403 handshake response."""
    if "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": rejection.status,
                "headers": _headers(rejection),
            }
        )
        await send({"type": "websocket.http.response.body", "body": rejection.body})
    else:
        await send({"type": "websocket.close", "code": 1008})
