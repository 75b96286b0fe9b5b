"""FastAPI: a security dependency on the Rust core, shown in the OpenAPI document.

Example::

    from fastapi import FastAPI, Security
    from oauth_filter import Token
    from oauth_filter.fastapi import OAuthFilter

    oauth = OAuthFilter()
    oauth.configure_with_jwt("https://idp.example/jwks", "https://idp.example", "api")
    app = FastAPI()

    @app.get("/orders")
    async def orders(token: Token = Security(oauth.require, scopes=["read"])):
        return {"user": token.subject}

``oauth.require`` reads FastAPI's ``SecurityScopes``: the scopes of every ``Security`` on the
way to the handler are required together, and the OpenAPI document lists them under the
``scheme`` (by default an HTTP bearer scheme named ``oauth_filter``; pass an
``OAuth2AuthorizationCodeBearer`` or ``OpenIdConnect`` to show the authorization server's
flows). ``oauth.requiring(claims=..., require=...)`` is a dependency with claims and the
gateway's requirements too.

A refusal raises :class:`OAuthError` (a FastAPI ``HTTPException``): 401 for a missing or invalid
token with the RFC 6750 challenge, 403 ``insufficient_scope``, 503 with ``Retry-After`` when
keys or introspection are unavailable. FastAPI renders it as ``{"detail": {"error": ...,
"error_description": ...}}`` with the challenge headers; ``@app.exception_handler(OAuthError)``
replaces that. The token is also ``request.state.token``.
"""

import json
from collections.abc import Mapping
from typing import Any, Optional

from fastapi import HTTPException, Request
from fastapi.security import HTTPBearer, SecurityScopes
from fastapi.security.base import SecurityBase

from . import asgi
from ._base import Claims, _claims
from ._native import ConfigurationError, Rejection, Requirement, Token

__all__ = ["ConfigurationError", "OAuthError", "OAuthFilter", "Require", "Token"]


class OAuthError(HTTPException):
    """A refused request: ``status_code`` 401, 403, 400, 404, 405 or 503, the RFC 6750 headers,
    and ``rejection`` (the :class:`oauth_filter.Rejection`)."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(
            status_code=rejection.status,
            detail=json.loads(rejection.body),
            headers=dict(rejection.headers),
        )
        self.rejection = rejection


class OAuthFilter(asgi.OAuthFilter):
    """The ASGI filter with FastAPI dependencies: :attr:`require` and :meth:`requiring`.

    ``scheme``: the security scheme the OpenAPI document shows (default: HTTP bearer, named
    ``oauth_filter``). It only documents: the filter reads the request itself, and the
    scheme's own dependency never runs.
    """

    def __init__(
        self,
        verify_ssl: bool = True,
        *,
        allow_query_token: bool = False,
        scheme: Optional[SecurityBase] = None,
    ) -> None:
        super().__init__(verify_ssl, allow_query_token=allow_query_token)
        self.scheme = scheme or HTTPBearer(
            bearerFormat="JWT", scheme_name="oauth_filter", auto_error=False
        )
        self.require = self.requiring()
        """The dependency for ``Security(oauth.require, scopes=[...])``."""

    def requiring(
        self, claims: Claims = None, require: Optional[Mapping[str, Any]] = None
    ) -> "Require":
        """A dependency for ``Security(dep, scopes=[...])`` that also requires ``claims``
        (present or equal) and ``require`` (the gateway's route vocabulary)."""
        extra = None
        if claims is not None or require is not None:
            extra = Requirement.flask_of_oil([], _claims(claims, "requiring"))
            if require is not None:
                extra = extra.both(Requirement.from_keys(require))
        return Require(self, extra)


class Require(SecurityBase):
    """A security dependency (:attr:`OAuthFilter.require`, :meth:`OAuthFilter.requiring`):
    awaited by FastAPI with the route's ``SecurityScopes``, it returns the verified
    :class:`Token` or raises :class:`OAuthError`.

    It is itself the security scheme FastAPI documents (it carries the filter's ``scheme``'s
    OpenAPI model and name), so a route runs one dependency for its token, not two.
    """

    def __init__(self, oauth: OAuthFilter, extra: Optional[Requirement]) -> None:
        self.model = oauth.scheme.model
        self.scheme_name = oauth.scheme.scheme_name
        self._oauth = oauth
        self._extra = extra
        # One Requirement per set of scopes, made on first use (a route's scopes do not change).
        self._made: dict[tuple[str, ...], Requirement] = {}

    # No `from __future__ import annotations` in this module: FastAPI reads these annotations
    # at runtime, and a callable object has no `__globals__` to resolve strings in.
    async def __call__(self, security_scopes: SecurityScopes, request: Request) -> Token:
        names = tuple(security_scopes.scopes)
        requirement = self._made.get(names)
        if requirement is None:
            requirement = Requirement.flask_of_oil(list(names), {})
            if self._extra is not None:
                requirement = requirement.both(self._extra)
            self._made[names] = requirement
        scope = request.scope
        # The core's call itself, not `_check_scope`: a coroutine less on every request.
        answer = self._oauth._configured().check_scope(scope, requirement)
        if not (answer is None or isinstance(answer, (Token, Rejection))):
            answer = await answer
        if not isinstance(answer, Token):
            if answer is None:  # not reachable with a requirement; never a pass
                raise RuntimeError("oauth_filter: no decision for a required token")
            raise OAuthError(answer)
        # `request.state.token`: Starlette's State is a view of this dict.
        scope.setdefault("state", {})["token"] = answer
        return answer
