//! The `bind` step: a token bound to a key (RFC 9449 DPoP, RFC 8705 mTLS) is only good with
//! its proof of possession. It runs on every request, after the caches, because a proof is
//! per request.
//!
//! ```
//! # #[cfg(feature = "__internal")] {
//! // Unbound tokens pass; a bound token without a verified proof is refused
//! // (401 `invalid_token`, reason `sender_constrained_token`).
//! use oauth_filter::AuthError;
//! assert_eq!(AuthError::SenderConstrainedToken.status(), 401);
//! # }
//! ```
//!
//! Proof-of-possession verification arrives here (and only here): until then a bound token is
//! refused unless the configuration explicitly accepts it as a bearer token
//! (`dangerous().accept_sender_constrained_as_bearer(true)`).

use crate::access_token::{AccessToken, Binding};
use crate::error::AuthError;
use crate::explain::Trace;
use crate::extract::RequestParts;

/// Checks the token's binding against the request.
pub(crate) fn bind(
    token: &AccessToken,
    _parts: &RequestParts<'_>,
    trace: &mut Trace,
) -> Result<(), AuthError> {
    match token.binding() {
        Binding::None => {
            trace.pass("binding", || "a bearer token (no cnf)".to_owned());
            Ok(())
        }
        Binding::AcceptedAsBearer => {
            trace.pass("binding", || {
                "bound to a key; accepted as a bearer token by configuration".to_owned()
            });
            Ok(())
        }
        Binding::Unproven => {
            trace.fail("binding", || {
                "bound to a key (cnf or DPoP), and no proof of possession is verified".to_owned()
            });
            Err(AuthError::SenderConstrainedToken)
        }
    }
}
