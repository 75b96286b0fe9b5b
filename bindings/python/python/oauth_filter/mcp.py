"""MCP servers: the MCP Python SDK's ``TokenVerifier``, on the Rust core.

Example (mcp 2.x; ``FastMCP`` of mcp 1.x takes the same ``token_verifier=`` and ``auth=``)::

    from mcp.server.auth.settings import AuthSettings
    from mcp.server.mcpserver import MCPServer
    from oauth_filter.asgi import OAuthFilter
    from oauth_filter.mcp import TokenVerifier

    oauth = OAuthFilter()
    # The audience is this MCP server's own URL: the MCP specification requires tokens meant
    # for this server (RFC 8707 resource indicators), never tokens for another one.
    oauth.configure_with_jwt("https://idp.example/jwks", "https://idp.example",
                             "https://mcp.example/mcp")
    server = MCPServer(
        "orders",
        token_verifier=TokenVerifier(oauth, resource="https://mcp.example/mcp"),
        auth=AuthSettings(issuer_url="https://idp.example",
                          resource_server_url="https://mcp.example/mcp",
                          required_scopes=["read"], validate_token_resource=True),
    )

``verify_token`` returns the SDK's ``AccessToken`` (token, client_id, scopes, expires_at,
resource, subject, claims) for a token the filter accepts, ``None`` for one it refuses (the
SDK answers 401 with its challenge); when keys or introspection are unavailable it raises
:class:`UnavailableError` instead of calling a good token bad. The SDK checks
``required_scopes``; ``requirement=`` adds the filter's own (claims, roles, client ids…).
"""

from __future__ import annotations

from typing import Optional

from mcp.server.auth.provider import AccessToken

from ._native import Rejection, Requirement, Token
from .asgi import OAuthFilter

__all__ = ["TokenVerifier", "UnavailableError"]


class UnavailableError(RuntimeError):
    """The authorization server's keys or introspection could not be had (the filter's 503)."""


class TokenVerifier:
    """The MCP SDK's ``TokenVerifier`` protocol over an :class:`oauth_filter.asgi.OAuthFilter`.

    ``resource``: this server's URL as tokens name it (``resource_server_url``); the SDK's
    ``AccessToken.resource`` is set to it when the token's ``aud`` holds it (the filter's
    ``audience`` decides acceptance). ``requirement``: what every token must also meet.
    """

    def __init__(
        self,
        oauth: OAuthFilter,
        *,
        resource: Optional[str] = None,
        requirement: Optional[Requirement] = None,
    ) -> None:
        self.oauth = oauth
        self.resource = resource
        self.requirement = requirement if requirement is not None else Requirement.from_keys({})

    async def verify_token(self, token: str) -> Optional[AccessToken]:
        """The SDK's ``AccessToken`` for a token the filter accepts, else ``None``."""
        answer = await self.oauth.verify(token, self.requirement)
        if isinstance(answer, Rejection):
            if answer.status == 503:
                raise UnavailableError(answer.description)
            return None
        if not isinstance(answer, Token):
            return None
        audiences = answer.audiences
        if self.resource is not None and self.resource in audiences:
            resource: Optional[str] = self.resource
        else:
            resource = audiences[0] if len(audiences) == 1 else None
        return AccessToken(
            token=token,
            client_id=answer.client_id or "",
            scopes=list(answer.scopes),
            expires_at=answer.expires_at,
            resource=resource,
            subject=answer.subject,
            claims=dict(answer.claims),
        )
