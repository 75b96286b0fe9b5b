// A real authorization server for oauth-filter's interop tests: oidc-provider on loopback.
//
// Client credentials grant with resource indicators (RFC 8707). Each resource server has its own
// access token format and signing algorithm:
//   https://api.example/rs256, /es256, /eddsa   JWT access tokens (RFC 9068 at+jwt)
//   https://api.example/other                   JWT, another audience
//   https://api.example/opaque                  opaque tokens (for introspection)
//   https://api.example/opaque-short            opaque tokens living 2 seconds
//   https://api.example/dpop                    JWT (ES256); DPoP-bound when the token request has a proof
//   https://api.example/mtls                    JWT (ES256); certificate-bound (RFC 8705) for `mtls-client`
//   https://api.example/mcp                     JWT (ES256); an MCP server behind the gateway
// With MTLS_CERT_FILE and MTLS_KEY_FILE (PEM) set, a second, HTTPS listener serves the same
// provider and asks for client certificates; it prints `MTLS <origin>` before READY. Tokens for
// `mtls-client` fetched there are bound to the certificate of that TLS connection (cnf.x5t#S256).
// Introspection (also as signed JWTs, RFC 9701) and revocation are enabled. The server prints one line `READY <issuer>` on stdout
// once it listens. Port: $PORT, or a free one.
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const jwk = (pair, kid, alg) => ({ ...pair.privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' });
const keys = [
  jwk(generateKeyPairSync('rsa', { modulusLength: 2048 }), 'rs-1', 'RS256'),
  jwk(generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'es-1', 'ES256'),
  jwk(generateKeyPairSync('ed25519'), 'ed-1', 'EdDSA'),
];

const RESOURCES = {
  'https://api.example/rs256': { format: 'jwt', alg: 'RS256' },
  'https://api.example/es256': { format: 'jwt', alg: 'ES256' },
  'https://api.example/eddsa': { format: 'jwt', alg: 'EdDSA' },
  'https://api.example/other': { format: 'jwt', alg: 'RS256' },
  'https://api.example/opaque': { format: 'opaque' },
  'https://api.example/opaque-short': { format: 'opaque', ttl: 2 },
  'https://api.example/dpop': { format: 'jwt', alg: 'ES256' },
  'https://api.example/mtls': { format: 'jwt', alg: 'ES256' },
  'https://api.example/mcp': { format: 'jwt', alg: 'ES256' },
};
const TTL = Number(process.env.ACCESS_TOKEN_TTL || 300);

const server = createServer();
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'interop-client',
        client_secret: 'interop-client-secret',
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'read write',
      },
      {
        client_id: 'mtls-client',
        client_secret: 'mtls-client-secret',
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
        tls_client_certificate_bound_access_tokens: true,
        scope: 'read write',
      },
      {
        client_id: 'resource-server',
        client_secret: 'resource-server-secret',
        grant_types: [],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys },
    scopes: ['openid', 'read', 'write'],
    cookies: { keys: ['interop-tests-only'] },
    enabledJWA: {
      authorizationSigningAlgValues: ['RS256', 'ES256', 'EdDSA'],
      idTokenSigningAlgValues: ['RS256', 'ES256', 'EdDSA'],
      dPoPSigningAlgValues: ['ES256', 'PS256', 'EdDSA'],
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // RFC 9449: a token request with a DPoP proof gets a token bound to its key (cnf.jkt).
      dPoP: { enabled: true },
      // RFC 8705 §3: tokens bound to the client certificate of the token request's connection.
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        getCertificate: (ctx) => ctx.req.socket.getPeerX509Certificate?.(),
      },
      introspection: {
        enabled: true,
        allowedPolicy: async (ctx, client, token) => client.clientId === 'resource-server' || client.clientId === token.clientId,
      },
      jwtIntrospection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => 'https://api.example/rs256',
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resourceIndicator) => {
          const rs = RESOURCES[resourceIndicator];
          if (!rs) throw new errors.InvalidTarget();
          const info = { scope: 'read write', audience: resourceIndicator, accessTokenTTL: rs.ttl || TTL, accessTokenFormat: rs.format };
          if (rs.format === 'jwt') info.jwt = { sign: { alg: rs.alg } };
          return info;
        },
      },
    },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  server.on('request', provider.callback());
  if (!process.env.MTLS_CERT_FILE) {
    console.log(`READY ${issuer}`);
    return;
  }
  const tls = createHttpsServer({
    cert: readFileSync(process.env.MTLS_CERT_FILE),
    key: readFileSync(process.env.MTLS_KEY_FILE),
    requestCert: true,
    // Any certificate: the binding only needs its thumbprint (RFC 8705 §2.2).
    rejectUnauthorized: false,
  }, provider.callback());
  tls.listen(0, '127.0.0.1', () => {
    console.log(`MTLS https://localhost:${tls.address().port}`);
    console.log(`READY ${issuer}`);
  });
});

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
