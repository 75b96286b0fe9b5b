"""Test support: the project's in-process OAuth issuer, for your own tests.

Example::

    from oauth_filter.flask import OAuthFilter
    from oauth_filter.testing import TestIssuer

    def test_reads_need_the_read_scope():
        with TestIssuer() as issuer:
            oauth = OAuthFilter()
            oauth.configure_with_jwt(issuer.jwks_url, issuer.issuer, "api", scopes=["read"])
            app = make_app(oauth)
            token = issuer.mint("read")
            ok = app.test_client().get("/", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200
            issuer.set_fault("down")        # the issuer is unreachable from now on

``TestIssuer`` is the Rust test kit's issuer: RS256, ES256 and EdDSA keys, JWKS and discovery
metadata on a loopback port, tokens with any claims and header (``mint``), opaque tokens for
introspection and their revocation (``opaque``, ``revoke``), key rotation (``rotate``,
``remove_key``) and fault switches (``set_fault``). It runs on its own thread, so it serves a
forked server (gunicorn) as well as Flask's test client.

``DpopClient`` makes DPoP proofs (RFC 9449) for tokens bound to its key::

    client = DpopClient("ES256")
    token = issuer.mint("read", claims={"cnf": client.cnf})
    proof = client.proof("GET", "https://api.example/orders", token)
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
"""

from ._native import DpopClient, TestIssuer

__all__ = ["DpopClient", "TestIssuer"]
