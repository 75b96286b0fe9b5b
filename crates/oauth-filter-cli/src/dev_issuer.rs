//! `oauth-filter dev-issuer` and `oauth-filter mint`: a development authorization server and
//! tokens from it, for trying the gateway or a protected API locally.
//!
//! ```text
//! $ oauth-filter dev-issuer &
//! READY issuer=http://127.0.0.1:9400
//! $ curl -H "Authorization: Bearer $(oauth-filter mint --scope read)" http://127.0.0.1:8080/...
//! ```
//!
//! The issuer is the test kit's (JWKS, discovery, introspection) on loopback. Its signing key
//! is kept in a state file (mode 0600, default `.oauth-filter-dev-issuer.json`) so tokens and
//! configurations survive restarts; `mint` signs with that key without talking to the server.
//! Development only: anyone who can read the state file can mint tokens.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use oauth_filter_testkit::{SigningAlg, SigningKey, TestIssuer, TokenBuilder};
use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const DEFAULT_STATE: &str = ".oauth-filter-dev-issuer.json";

/// Options of `dev-issuer`.
#[derive(clap::Args)]
pub(crate) struct DevIssuerArgs {
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 9400)]
    port: u16,
    /// Default `aud` of minted tokens.
    #[arg(long, default_value = "api")]
    audience: String,
    /// Signing algorithm of a new key: RS256, PS256, ES256, ES384, ES512 or EdDSA.
    #[arg(long, default_value = "RS256")]
    alg: String,
    /// State file holding the signing key (created when missing).
    #[arg(long, default_value = DEFAULT_STATE)]
    state: PathBuf,
}

/// Options of `mint`.
#[derive(clap::Args)]
pub(crate) struct MintArgs {
    /// Scopes to grant (repeat, or give a space-separated list).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// `sub`.
    #[arg(long, default_value = "dev-user")]
    sub: String,
    /// `client_id`.
    #[arg(long, default_value = "dev-client")]
    client_id: String,
    /// `aud` (default: the dev issuer's audience).
    #[arg(long)]
    audience: Option<String>,
    /// Lifetime in seconds (negative: already expired).
    #[arg(long, default_value_t = 3600, allow_negative_numbers = true)]
    lifetime: i64,
    /// Extra claim NAME=VALUE; VALUE is read as JSON when it parses, else as a string.
    #[arg(long = "claim")]
    claims: Vec<String>,
    /// The dev issuer's state file.
    #[arg(long, default_value = DEFAULT_STATE)]
    state: PathBuf,
}

struct State {
    issuer: String,
    audience: String,
    key: Arc<SigningKey>,
}

fn read_state(path: &Path) -> Result<Option<State>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let bad = |what: &str| {
        format!(
            "{}: {what}; delete the file to start afresh",
            path.display()
        )
    };
    let v: Value = serde_json::from_str(&text).map_err(|_| bad("not JSON"))?;
    let field = |name: &str| {
        v.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| bad(&format!("missing `{name}`")))
    };
    let alg = SigningAlg::from_name(field("alg")?).ok_or_else(|| bad("unknown `alg`"))?;
    let der = STANDARD
        .decode(field("private_key_pkcs8")?)
        .map_err(|_| bad("`private_key_pkcs8` is not base64"))?;
    let key = SigningKey::from_pkcs8(alg, field("kid")?, &der)
        .map_err(|_| bad("the key does not load"))?;
    Ok(Some(State {
        issuer: field("issuer")?.to_owned(),
        audience: field("audience")?.to_owned(),
        key: Arc::new(key),
    }))
}

fn write_state(path: &Path, state: &State) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let der = state
        .key
        .pkcs8_der()
        .map_err(|_| String::from("cannot export the signing key"))?;
    let doc = json!({
        "issuer": state.issuer,
        "audience": state.audience,
        "alg": state.key.alg().name(),
        "kid": state.key.kid(),
        "private_key_pkcs8": STANDARD.encode(der),
    });
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(doc.to_string().as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub(crate) async fn run(args: DevIssuerArgs) -> Result<(), Box<dyn std::error::Error>> {
    let key = match read_state(&args.state)? {
        Some(s) => s.key,
        None => {
            let alg = SigningAlg::from_name(&args.alg)
                .ok_or_else(|| format!("--alg: `{}` is not a signing algorithm", args.alg))?;
            Arc::new(SigningKey::generate(alg).map_err(|_| "cannot generate a key")?)
        }
    };
    let issuer = TestIssuer::builder()
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
        .audience(&args.audience)
        .keys(vec![key.clone()])
        .try_start()
        .await?;
    // Registered before anything is announced, so that Ctrl-C (SIGINT) at any moment after the
    // state file exists ends the process cleanly, with status 0.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    write_state(
        &args.state,
        &State {
            issuer: issuer.issuer().to_owned(),
            audience: args.audience.clone(),
            key,
        },
    )?;
    // Written with errors ignored: whoever started us may have read READY and closed the pipe,
    // and `println!` would then panic on EPIPE and take the issuer down with it.
    let banner = format!(
        "READY issuer={iss}\n  JWKS:          {jwks}\n  discovery:     {iss}/.well-known/openid-configuration\n  \
         introspection: {intro} (client {id} / {secret:?})\n  state file:    {state} (mint reads it)\n\n\
         A token: oauth-filter mint --scope read\nPress Ctrl-C to stop.\n",
        iss = issuer.issuer(),
        jwks = issuer.jwks_url(),
        intro = issuer.introspection_url(),
        id = oauth_filter_testkit::INTROSPECTION_CLIENT_ID,
        secret = oauth_filter_testkit::INTROSPECTION_CLIENT_SECRET,
        state = args.state.display(),
    );
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }
    interrupt.recv().await;
    drop(issuer);
    Ok(())
}

pub(crate) fn mint(args: MintArgs) -> Result<(), Box<dyn std::error::Error>> {
    let state = read_state(&args.state)?.ok_or_else(|| {
        format!(
            "{} not found: start `oauth-filter dev-issuer` first (or pass --state)",
            args.state.display()
        )
    })?;
    let scope = args
        .scopes
        .iter()
        .flat_map(|s| s.split_whitespace())
        .collect::<Vec<_>>()
        .join(" ");
    let audience = args.audience.as_deref().unwrap_or(&state.audience);
    let mut token = TokenBuilder::for_issuer(&state.issuer, audience, state.key)
        .subject(&args.sub)
        .claim("client_id", args.client_id.as_str())
        .expires_in_secs(args.lifetime);
    if !scope.is_empty() {
        token = token.scope(&scope);
    }
    for c in &args.claims {
        let (name, value) = c
            .split_once('=')
            .ok_or_else(|| format!("--claim {c:?}: expected NAME=VALUE"))?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::from(value));
        token = token.claim(name, value);
    }
    println!("{}", token.sign());
    Ok(())
}
