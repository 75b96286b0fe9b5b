"""What every adapter shares: the configuration (the seed's and flask-of-oil's methods, and the
gateway's keys), the default scopes, and the argument checks.

Example (each adapter's ``OAuthFilter`` is one of these)::

    from oauth_filter.asgi import OAuthFilter
    oauth = OAuthFilter()
    oauth.configure_with_jwt("https://idp.example/jwks", "https://idp.example", "api")
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any, Optional, TypeVar, Union

from . import _native
from ._native import ConfigurationError, Requirement

Scopes = Union[str, Sequence[str], None]
"""Scopes as a list (or tuple) of names or one space-separated string."""

Claims = Optional[Mapping[str, Any]]
"""Claim names to ``None`` (must be present) or a value (must be equal)."""

Self_ = TypeVar("Self_", bound="FilterBase")

_log = logging.getLogger("oauth_filter")


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


class FilterBase:
    """A configured filter, before any framework: the ``OAuthFilter`` of each adapter.

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
        cls: type[Self_],
        mapping: Mapping[str, Any],
        *,
        scopes: Scopes = None,
        verify_ssl: bool = True,
        allow_query_token: bool = False,
    ) -> Self_:
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
        cls: type[Self_],
        path: Union[str, PathLike[str]],
        *,
        scopes: Scopes = None,
        verify_ssl: bool = True,
        allow_query_token: bool = False,
    ) -> Self_:
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
        """The scopes required where a check names none (the configuration's default)."""
        return list(self._scopes)

    @scopes.setter
    def scopes(self, scopes: Scopes) -> None:
        names = _scopes(scopes, "scopes")
        self._default = Requirement.flask_of_oil(names, {})
        self._scopes = names

    def _configured(self) -> _native.Filter:
        if self._native is None:
            raise RuntimeError(
                "OAuthFilter is not configured: call configure_with_jwt, "
                "configure_with_multiple_jwt_issuers or configure_with_opaque first"
            )
        return self._native
