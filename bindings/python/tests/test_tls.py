"""The authorization server over TLS: certificates are checked unless ``verify_ssl=False``, and
``tls.ca_file`` trusts a private CA. Keys behind a certificate that fails are unavailable (503),
never a reason to accept a token."""

from __future__ import annotations

import ssl
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from flask import Flask, g

from conftest import bearer
from oauth_filter.flask import OAuthFilter
from oauth_filter.testing import TestIssuer


class Keys:
    """An https server on loopback relaying the test issuer's JWKS, with a certificate of a
    private CA for ``name``."""

    def __init__(self, issuer: TestIssuer, ca: trustme.CA, name: str) -> None:
        upstream = issuer.jwks_url

        class Relay(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with urllib.request.urlopen(upstream, timeout=10) as r:
                    body = r.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(name).configure_cert(context)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/jwks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def keys(issuer: TestIssuer, ca: trustme.CA) -> Iterator[Keys]:
    k = Keys(issuer, ca, "127.0.0.1")
    yield k
    k.close()


def app(oauth: OAuthFilter, ran: list[str]) -> Flask:
    flask = Flask(__name__)

    @flask.route("/")
    @oauth.protect("read")
    def index() -> str:
        ran.append(str(g.user))
        return str(g.user)

    return flask


def test_an_untrusted_certificate_is_refused_by_default(issuer: TestIssuer, keys: Keys) -> None:
    oauth = OAuthFilter()  # verify_ssl=True
    oauth.configure_with_jwt(keys.url, issuer.issuer, "api")
    ran: list[str] = []
    r = app(oauth, ran).test_client().get("/", headers=bearer(issuer.mint("read")))
    assert r.status_code == 503
    assert "Retry-After" in r.headers
    assert ran == []


def test_verify_ssl_false_accepts_it(issuer: TestIssuer, keys: Keys) -> None:
    oauth = OAuthFilter(verify_ssl=False)
    oauth.configure_with_jwt(keys.url, issuer.issuer, "api")
    ran: list[str] = []
    r = app(oauth, ran).test_client().get("/", headers=bearer(issuer.mint("read", subject="tls")))
    assert (r.status_code, ran) == (200, ["tls"])


def test_tls_ca_file_trusts_a_private_ca(
    issuer: TestIssuer, keys: Keys, ca: trustme.CA, tmp_path: Path
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    config = {"tls": {"ca_file": str(ca_file)}}
    oauth = OAuthFilter.from_config(
        {**config, "issuers": [{"issuer": issuer.issuer, "jwks_url": keys.url, "audience": "api"}]}
    )
    ran: list[str] = []
    r = app(oauth, ran).test_client().get("/", headers=bearer(issuer.mint("read", subject="ca")))
    assert (r.status_code, ran) == (200, ["ca"])


def test_the_private_ca_does_not_vouch_for_another_name(
    issuer: TestIssuer, ca: trustme.CA, tmp_path: Path
) -> None:
    other = Keys(issuer, ca, "auth.example")  # served on 127.0.0.1, named for another host
    try:
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        issuers = [{"issuer": issuer.issuer, "jwks_url": other.url, "audience": "api"}]
        oauth = OAuthFilter.from_config({"tls": {"ca_file": str(ca_file)}, "issuers": issuers})
        ran: list[str] = []
        r = app(oauth, ran).test_client().get("/", headers=bearer(issuer.mint("read")))
        assert (r.status_code, ran) == (503, [])
    finally:
        other.close()
