"""An MCP server (streamable HTTP) whose tokens oauth-filter verifies: ``uvicorn mcp_server:app``.

The issuer comes from the environment: ``ISSUER`` and ``JWKS_URL``; ``RESOURCE`` is this
server's own URL (``http://127.0.0.1:8000/mcp``), which tokens must name as their audience: the
MCP specification requires tokens meant for this server (RFC 8707 resource indicators).
"""

import os

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from pydantic import AnyHttpUrl

from oauth_filter.asgi import OAuthFilter
from oauth_filter.mcp import TokenVerifier

resource = os.environ["RESOURCE"]
oauth = OAuthFilter()
oauth.configure_with_jwt(os.environ["JWKS_URL"], os.environ["ISSUER"], resource)

server = MCPServer(
    "orders",
    token_verifier=TokenVerifier(oauth, resource=resource),
    auth=AuthSettings(
        issuer_url=AnyHttpUrl(os.environ["ISSUER"]),
        resource_server_url=AnyHttpUrl(resource),
        required_scopes=["read"],
        validate_token_resource=True,
    ),
)


@server.tool()
def whoami() -> str:
    """Who is calling."""
    token = get_access_token()
    return token.subject or token.client_id if token else "nobody"


app = server.streamable_http_app()
