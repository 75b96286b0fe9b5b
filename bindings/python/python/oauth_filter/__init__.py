"""oauth-filter: an OAuth 2.0 resource-server filter with a Rust core.

Example::

    from flask import Flask, g
    from oauth_filter.flask import OAuthFilter

    app = Flask(__name__)
    oauth = OAuthFilter(verify_ssl=True)
    oauth.configure_with_jwt("https://idp.example/jwks", "https://idp.example", "api")
    app.before_request(oauth.filter)

The framework adapters live in submodules: ``oauth_filter.flask`` (Flask, the seed's API),
``oauth_filter.asgi`` (any ASGI app: Starlette, Quart; HTTP and WebSocket),
``oauth_filter.fastapi`` (a ``Security`` dependency) and ``oauth_filter.mcp`` (the MCP SDK's
``TokenVerifier``); the test kit is ``oauth_filter.testing``. This module holds what they
share: the verified ``Token``, the ``Rejection`` a refused request gets, ``Requirement`` and
``ConfigurationError``.
"""

from ._native import ConfigurationError, Rejection, Requirement, Token, __version__

__all__ = ["ConfigurationError", "Rejection", "Requirement", "Token", "__version__"]
