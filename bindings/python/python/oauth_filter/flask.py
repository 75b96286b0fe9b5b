"""The Flask extension: Curity's OAuth filter for Flask and flask-of-oil, on the Rust core.

Example (the seed's setup; migrating from flask-of-oil changes only the import line)::

    import json
    from flask import Flask, g
    from oauth_filter.flask import OAuthFilter

    app = Flask(__name__)
    oauth = OAuthFilter(verify_ssl=True)
    oauth.configure_with_jwt("https://idp.example/jwks", "https://idp.example", "api")
    app.before_request(oauth.filter)

    @app.route("/hello_world")
    def hello_world():
        return json.dumps({"hello": g.user})

Per route, closest to the function::

    @app.route("/orders")
    @oauth.protect(scopes=["read"], claims={"department": "sales"})
    def orders(): ...

On success ``g.user`` is the subject, ``request.claims`` every claim (or introspection member)
and :data:`current_token` the typed :class:`oauth_filter.Token`. A refusal goes through Flask's
``abort``: ``@app.errorhandler(401)``, ``(403)`` and ``(503)`` replace the default answers,
which carry the RFC 6750 ``WWW-Authenticate`` challenge (``Retry-After`` on 503) and a JSON
body ``{"error": ..., "error_description": ...}``.

Differences from flask-of-oil, each a security fix: a token in the query string is refused
unless ``allow_query_token=True``; inactive introspection answers are cached briefly, not for
ever; signed introspection responses are verified; an issuer is chosen from a token only with
that issuer's own keys; no token is ever logged; ``claims`` that is not a dict is an error
(flask-of-oil ignored it with a warning, leaving the route open to any token); the issuer
being unreachable is 503 (flask-of-oil: 500); ``configure_with_multiple_jwt_issuers`` finds
each issuer's keys from its discovery metadata (flask-of-oil assumed ``issuer + "/jwks"``).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Mapping
from typing import Any, Callable, NoReturn, Optional, TypeVar, cast
from urllib.parse import quote

from flask import Response, abort, g, request
from werkzeug.local import LocalProxy

from . import _native
from ._base import Claims, FilterBase, Scopes, _claims, _scopes
from ._native import ConfigurationError, Rejection, Requirement, Token

__all__ = ["ConfigurationError", "OAuthFilter", "Rejection", "Token", "current_token"]

F = TypeVar("F", bound=Callable[..., Any])

_log = logging.getLogger("oauth_filter")
_TOKEN = "_oauth_filter_token"  # noqa: S105 (the name of a slot in flask.g)
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def _current_token() -> Token:
    held = g.get(_TOKEN)
    if held is None:
        raise RuntimeError("no verified token in this request (is the route protected?)")
    return cast(Token, held[1])


current_token: Token = cast(Token, LocalProxy(_current_token))
"""The verified token of the current request (subject, client_id, scopes, claims,
expires_at, kind). Outside a request that passed the filter, using it raises RuntimeError."""


class OAuthFilter(FilterBase):
    """Protects a Flask API with OAuth 2.0 access tokens (the configuration methods are
    :class:`oauth_filter._base.FilterBase`'s).

    ``verify_ssl=False`` turns off certificate checks towards the authorization server (for a
    development server only). ``allow_query_token=True`` also accepts ``?access_token=`` (RFC
    6750 §2.3, which advises against it: URLs end up in logs).
    """

    # -- enforcement --------------------------------------------------------------------------

    def filter(self, scopes: Scopes = None, claims: Claims = None) -> None:
        """Checks the current request: for ``app.before_request(oauth.filter)``, or called in a
        view. Without arguments it requires the configured scopes (or, for a configuration with
        ``routes``, the request's route). Aborts with 401, 403, 400 or 503 when the request
        does not pass; returns None when it does."""
        native = self._configured()
        if scopes is None and claims is None:
            requirement: Optional[Requirement] = None if native.has_routes else self._default
        else:
            names = self._scopes if scopes is None else _scopes(scopes, "filter")
            requirement = Requirement.flask_of_oil(names, _claims(claims, "filter"))
        self._enforce(native, requirement)

    def protect(
        self,
        scopes: Scopes = None,
        claims: Claims = None,
        *,
        require: Optional[Mapping[str, Any]] = None,
    ) -> Callable[[F], F]:
        """A decorator requiring a valid token with every one of ``scopes`` and ``claims`` (a
        dict: ``None`` means present, a value means equal) for one view. It must be the closest
        decorator to the function. ``require`` adds requirements in the gateway's route
        vocabulary: ``{"claims": {"realm_access.roles": {"contains": "admin"}},
        "acr_values": ["gold"], "max_auth_age_secs": 300, "client_ids": [...],
        "any_scopes": [...], "max_token_age_secs": 60}``.
        """
        requirement = Requirement.flask_of_oil(
            _scopes(scopes, "protect"), _claims(claims, "protect")
        )
        if require is not None:
            requirement = requirement.both(Requirement.from_keys(require))

        def decorator(view: F) -> F:
            if inspect.iscoroutinefunction(view):

                @functools.wraps(view)
                async def async_inner(*args: Any, **kwargs: Any) -> Any:
                    self._enforce(self._configured(), requirement)
                    return await view(*args, **kwargs)

                return cast(F, async_inner)

            @functools.wraps(view)
            def inner(*args: Any, **kwargs: Any) -> Any:
                self._enforce(self._configured(), requirement)
                return view(*args, **kwargs)

            return cast(F, inner)

        return decorator

    def _enforce(self, native: _native.Filter, requirement: Optional[Requirement]) -> None:
        # The objects behind Flask's proxies, once: each proxy access costs a context lookup.
        req = request._get_current_object()  # type: ignore[attr-defined]
        slots = vars(g._get_current_object())
        held = slots.get(_TOKEN)
        if held is not None and held[0] is native and requirement is not None:
            # Verified earlier in this request (the before_request filter, then a decorator).
            refused = native.authorize(held[1], requirement)
            if refused is not None:
                self._refuse(refused)
            return
        environ = req.environ
        if native.has_routes:
            # The core reads a path as it came on the wire (it decodes and normalizes it); WSGI
            # gives it decoded, so a route match gets it encoded again.
            path = quote(req.path, safe=_PATH_SAFE)
        else:
            path = environ.get("PATH_INFO", "")
        result = native.check(
            environ.get("HTTP_AUTHORIZATION"),
            environ.get("QUERY_STRING") or None,
            environ.get("REQUEST_METHOD", "GET"),
            path,
            requirement,
            dpop=environ.get("HTTP_DPOP"),
        )
        if result is None:
            return
        if isinstance(result, Rejection):
            self._refuse(result)
        slots.setdefault(_TOKEN, (native, result))
        slots["user"] = result.subject
        # flask-of-oil's request.claims: the JWT payload or the introspection response.
        req.claims = result.claims

    @staticmethod
    def _refuse(rejection: Rejection) -> NoReturn:
        _log.info(
            "request rejected: status=%d reason=%s method=%s path=%r",
            rejection.status,
            rejection.reason,
            request.method,
            request.path,
        )
        response = Response(
            rejection.body,
            status=rejection.status,
            headers=rejection.headers,
            content_type="application/json",
        )
        abort(rejection.status, response=response)
