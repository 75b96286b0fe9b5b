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
from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any, Callable, NoReturn, Optional, TypeVar, Union, cast
from urllib.parse import quote

from flask import Response, abort, g, request
from werkzeug.local import LocalProxy

from . import _native
from ._native import ConfigurationError, Rejection, Requirement, Token

__all__ = ["ConfigurationError", "OAuthFilter", "Rejection", "Token", "current_token"]

Scopes = Union[str, Sequence[str], None]
"""Scopes as a list (or tuple) of names or one space-separated string."""

Claims = Optional[Mapping[str, Any]]
"""Claim names to ``None`` (must be present) or a value (must be equal)."""

F = TypeVar("F", bound=Callable[..., Any])

_log = logging.getLogger("oauth_filter")
_TOKEN = "_oauth_filter_token"  # noqa: S105 (the name of a slot in flask.g)
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def _scopes(scopes: Scopes, where: str) -> list[str]:
    if scopes is None:
        return []
    if isinstance(scopes, str):
        return scopes.split()
    if isinstance(scopes, (list, tuple)) and all(isinstance(s, str) for s in scopes):
        return list(scopes)
    raise TypeError(f"{where}: scopes must be a list of str or one space-separated str")


def _claims(claims: Claims, where: str) -> dict[str, Any]:
    if claims is None:
        return {}
    if not isinstance(claims, Mapping):
        raise TypeError(
            f"{where}: claims must be a dict of claim name to None (present) or a value "
            f"(equal), not {type(claims).__name__}"
        )
    return dict(claims)


def _current_token() -> Token:
    held = g.get(_TOKEN)
    if held is None:
        raise RuntimeError("no verified token in this request (is the route protected?)")
    return cast(Token, held[1])


current_token: Token = cast(Token, LocalProxy(_current_token))
"""The verified token of the current request (subject, client_id, scopes, claims,
expires_at, kind). Outside a request that passed the filter, using it raises RuntimeError."""


class OAuthFilter:
    """Protects a Flask API with OAuth 2.0 access tokens.

    ``verify_ssl=False`` turns off certificate checks towards the authorization server (for a
    development server only). ``allow_query_token=True`` also accepts ``?access_token=`` (RFC
    6750 §2.3, which advises against it: URLs end up in logs).
    """

    def __init__(self, verify_ssl: bool = True, *, allow_query_token: bool = False) -> None:
        self.verify_ssl = verify_ssl
        self.allow_query_token = allow_query_token
        self._issuers: list[dict[str, Any]] = []
        self._introspection: Optional[dict[str, Any]] = None
        self._native: Optional[_native.Filter] = None
        self._scopes: list[str] = []
        self._default = Requirement.flask_of_oil([], {})
        if not verify_ssl:
            _log.warning(
                "verify_ssl=False: certificates of the authorization server are not checked"
            )

    # -- configuration (the seed's and flask-of-oil's methods) --------------------------------

    def configure_with_jwt(
        self, jwks_url: str, issuer: str, audience: str, scopes: Scopes = None
    ) -> None:
        """Trusts JWTs of ``issuer`` for ``audience``, verified with the keys at ``jwks_url``.

        ``scopes``: what :meth:`filter` requires of every request. Replaces any JWT issuers
        configured before; with :meth:`configure_with_opaque` as well, JWTs of this issuer are
        verified locally and every other token is introspected.
        """
        self._issuers = [{"issuer": issuer, "audience": audience, "jwks_url": jwks_url}]
        self._configure(scopes)

    def configure_with_multiple_jwt_issuers(
        self, issuers: Sequence[str], audience: str, scopes: Scopes = None
    ) -> None:
        """Trusts JWTs of each of ``issuers`` for ``audience``, each verified with its own keys,
        found from the issuer's discovery metadata (``/.well-known/openid-configuration`` or
        RFC 8414). flask-of-oil assumed ``issuer + "/jwks"``; use :meth:`from_config` with
        ``jwks_url`` per issuer where the metadata is not published.
        """
        if isinstance(issuers, str) or not all(isinstance(i, str) for i in issuers):
            raise TypeError("configure_with_multiple_jwt_issuers: issuers must be a list of str")
        self._issuers = [{"issuer": i, "audience": audience} for i in issuers]
        self._configure(scopes)

    def configure_with_opaque(
        self,
        introspection_url: str,
        client_id: str,
        client_secret: str,
        scopes: Scopes = None,
    ) -> None:
        """Resolves tokens by RFC 7662 introspection at ``introspection_url``, authenticating
        as ``client_id`` with ``client_secret`` (HTTP Basic)."""
        self._introspection = {
            "endpoint": introspection_url,
            "client_id": client_id,
            "client_secret": client_secret,
        }
        self._configure(scopes)

    def _configure(self, scopes: Scopes) -> None:
        mapping: dict[str, Any] = {}
        if self._issuers:
            mapping["issuers"] = self._issuers
        if self._introspection is not None:
            mapping["introspection"] = self._introspection
        self._native = _native.Filter.from_mapping(
            mapping, verify_ssl=self.verify_ssl, allow_query_token=self.allow_query_token
        )
        if scopes is not None:
            self.scopes = _scopes(scopes, "configure")

    @classmethod
    def from_config(
        cls,
        mapping: Mapping[str, Any],
        *,
        scopes: Scopes = None,
        verify_ssl: bool = True,
        allow_query_token: bool = False,
    ) -> OAuthFilter:
        """A filter from the gateway's configuration keys, as a mapping: ``issuers`` (each with
        ``issuer``, ``audience``, ``jwks_url``, ``algorithms``, ``strict_rfc9068``),
        ``introspection`` (``endpoint``, ``client_id``, ``client_secret``, ``jwt_response``,
        ``redis``…), ``routes``, ``tls``, ``realm``, ``leeway``, ``max_token_len``,
        ``jwt_cache_capacity``. With ``routes``, :meth:`filter` applies the request's route
        (and refuses a path no route takes with 404), as the gateway does; ``scopes`` is then
        refused. Raises :class:`ConfigurationError` naming the key.
        """
        self = cls(verify_ssl, allow_query_token=allow_query_token)
        self._adopt(
            _native.Filter.from_mapping(
                mapping, verify_ssl=verify_ssl, allow_query_token=allow_query_token
            ),
            scopes,
        )
        return self

    @classmethod
    def from_toml(
        cls,
        path: Union[str, PathLike[str]],
        *,
        scopes: Scopes = None,
        verify_ssl: bool = True,
        allow_query_token: bool = False,
    ) -> OAuthFilter:
        """:meth:`from_config` from a TOML file, with the gateway's environment overrides
        (``OAUTH_FILTER__INTROSPECTION__CLIENT_SECRET``…) applied. Keys of the gateway alone
        (``listen``, ``upstream``…) are refused by name."""
        self = cls(verify_ssl, allow_query_token=allow_query_token)
        self._adopt(
            _native.Filter.from_toml(
                str(path), verify_ssl=verify_ssl, allow_query_token=allow_query_token
            ),
            scopes,
        )
        return self

    def _adopt(self, native: _native.Filter, scopes: Scopes) -> None:
        if native.has_routes and scopes is not None:
            reason = "the configuration has routes, which say what each path requires"
            error = ConfigurationError(f"configuration error: scopes: {reason}")
            error.key, error.reason = "scopes", reason
            raise error
        self._native = native
        if scopes is not None:
            self.scopes = _scopes(scopes, "from_config")

    @property
    def scopes(self) -> list[str]:
        """The scopes :meth:`filter` requires when called without arguments."""
        return list(self._scopes)

    @scopes.setter
    def scopes(self, scopes: Scopes) -> None:
        names = _scopes(scopes, "scopes")
        self._default = Requirement.flask_of_oil(names, {})
        self._scopes = names

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

    def _configured(self) -> _native.Filter:
        if self._native is None:
            raise RuntimeError(
                "OAuthFilter is not configured: call configure_with_jwt, "
                "configure_with_multiple_jwt_issuers or configure_with_opaque first"
            )
        return self._native

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
