"""Type stubs of the native module (the Rust core and the test kit)."""

from collections.abc import Awaitable, Mapping
from types import TracebackType
from typing import Any, Literal, Optional, Union

__version__: str

def runtime_waits() -> int:
    """Requests that waited on the async runtime in this process (a diagnostic)."""

class ConfigurationError(ValueError):
    """A configuration the filter refuses: ``key`` names the setting as written."""

    key: str
    reason: str

class Token:
    """A verified access token's facts (the token itself is not kept)."""

    @property
    def subject(self) -> Optional[str]: ...
    @property
    def client_id(self) -> Optional[str]: ...
    @property
    def issuer(self) -> str: ...
    @property
    def scopes(self) -> tuple[str, ...]: ...
    @property
    def audiences(self) -> list[str]: ...
    @property
    def expires_at(self) -> Optional[int]: ...
    @property
    def kind(self) -> Literal["jwt", "introspection"]: ...
    @property
    def claims(self) -> dict[str, Any]: ...
    def has_scope(self, scope: str) -> bool: ...

class Rejection:
    """A refusal: status, RFC 6750 headers and the JSON body."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> list[tuple[str, str]]: ...
    @property
    def body(self) -> bytes: ...
    @property
    def error(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def reason(self) -> str: ...

class Requirement:
    """What a route requires of a token."""

    @staticmethod
    def flask_of_oil(scopes: list[str], claims: Mapping[str, Any]) -> Requirement: ...
    @staticmethod
    def from_keys(mapping: Mapping[str, Any]) -> Requirement: ...
    def both(self, other: Requirement) -> Requirement: ...

class Filter:
    """The core filter, configured; built afresh in each process that uses it."""

    @staticmethod
    def from_mapping(
        mapping: Mapping[str, Any], *, verify_ssl: bool = True, allow_query_token: bool = False
    ) -> Filter: ...
    @staticmethod
    def from_toml(
        path: str, *, verify_ssl: bool = True, allow_query_token: bool = False
    ) -> Filter: ...
    @property
    def has_routes(self) -> bool: ...
    @property
    def realm(self) -> str: ...
    def check(
        self,
        authorization: Optional[str],
        query: Optional[str],
        method: str,
        path: str,
        requirement: Optional[Requirement] = None,
        *,
        dpop: Optional[str] = None,
    ) -> Union[Token, Rejection, None]: ...
    def check_async(
        self,
        authorization: Optional[str],
        query: Optional[str],
        method: str,
        path: str,
        requirement: Optional[Requirement] = None,
        *,
        dpop: Optional[str] = None,
    ) -> Union[Token, Rejection, Awaitable[Union[Token, Rejection, None]], None]: ...
    def check_scope(
        self, scope: Mapping[str, Any], requirement: Optional[Requirement] = None
    ) -> Union[Token, Rejection, Awaitable[Union[Token, Rejection, None]], None]: ...
    def authorize(self, token: Token, requirement: Requirement) -> Optional[Rejection]: ...

class DpopClient:
    """A DPoP client: a key pair, the ``cnf`` of tokens bound to it, proofs signed with it."""

    def __init__(self, alg: str = "ES256") -> None: ...
    @property
    def thumbprint(self) -> str: ...
    @property
    def cnf(self) -> dict[str, str]: ...
    def proof(
        self,
        method: str,
        uri: str,
        access_token: str,
        *,
        claims: Optional[Mapping[str, Any]] = None,
        header: Optional[Mapping[str, Any]] = None,
    ) -> str: ...

FaultKind = Literal["down", "status", "slow", "garbage", "huge", "redirect"]

class TestIssuer:
    """An in-process issuer: keys, JWKS, discovery, introspection, fault switches."""

    def __init__(
        self,
        *,
        audience: str = "api",
        algorithms: Optional[list[str]] = None,
        path: str = "",
    ) -> None: ...
    @property
    def issuer(self) -> str: ...
    @property
    def audience(self) -> str: ...
    @property
    def jwks_url(self) -> str: ...
    @property
    def introspection_url(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> str: ...
    @property
    def kids(self) -> list[str]: ...
    @property
    def requests(self) -> int: ...
    @property
    def jwks_requests(self) -> int: ...
    @property
    def introspection_requests(self) -> int: ...
    def mint(
        self,
        scope: Optional[str] = None,
        *,
        subject: Optional[str] = None,
        audience: Optional[str] = None,
        issuer: Optional[str] = None,
        expires_in: Optional[int] = None,
        claims: Optional[Mapping[str, Any]] = None,
        header: Optional[Mapping[str, Any]] = None,
        without: list[str] = ...,
        alg: Optional[str] = None,
    ) -> str: ...
    def opaque(
        self,
        scope: Optional[str] = None,
        *,
        subject: Optional[str] = None,
        expires_in: Optional[int] = None,
        active: bool = True,
        members: Optional[Mapping[str, Any]] = None,
    ) -> str: ...
    def revoke(self, token: str) -> None: ...
    def rotate(self, alg: str = "RS256") -> str: ...
    def remove_key(self, kid: str) -> None: ...
    def set_fault(
        self, kind: Optional[FaultKind], value: Union[int, float, str, None] = None
    ) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> TestIssuer: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None: ...
