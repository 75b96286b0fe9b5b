//! The `bind` step: a token bound to a key (RFC 9449 DPoP, RFC 8705 mTLS) is only good with
//! its proof of possession. It runs on every request, after the caches, because a proof is
//! per request.
//!
//! ```
//! use oauth_filter::{AuthError, DpopError};
//! // A DPoP-bound token with the `Bearer` scheme, or where DPoP is not configured:
//! assert_eq!(AuthError::SenderConstrainedToken.status(), 401);
//! // A proof that fails is `invalid_dpop_proof` (RFC 9449 §12.2) with a precise reason:
//! let e = AuthError::Dpop(DpopError::Replayed);
//! assert_eq!((e.status(), e.error_code()), (401, Some("invalid_dpop_proof")));
//! assert_eq!(e.reason_code(), "dpop_replayed");
//! ```
//!
//! | token | `Bearer` scheme | `DPoP` scheme |
//! |---|---|---|
//! | unbound | accepted, unless the route takes only `DPoP` ([`Dpop::accept_bearer`](crate::Dpop::accept_bearer) off, [`TokenSchemes::Dpop`](crate::TokenSchemes::Dpop): `dpop_required`) | refused (`dpop_unbound_token`) |
//! | `cnf.jkt` | refused (`sender_constrained_token`) | exactly one `DPoP` proof, valid for this request and token, by the `jkt` key, used once |
//! | `cnf.x5t#S256` | the connection's client certificate has that thumbprint (RFC 8705; `mtls_certificate_missing`, `mtls_certificate_mismatch`) | refused (`dpop_unbound_token`) |
//! | other `cnf` | refused (`sender_constrained_token`) | refused (`sender_constrained_token`) |
//!
//! A route that takes only `Bearer` ([`TokenSchemes::Bearer`](crate::TokenSchemes::Bearer))
//! does not read the `DPoP` scheme: such a request has no credentials. A route that takes only
//! `DPoP` refuses every `Bearer` request (`dpop_required`). With sender-constrained tokens
//! required ([`OAuthFilterBuilder::require_sender_constrained`](crate::OAuthFilterBuilder::require_sender_constrained),
//! the FAPI 2.0 profile) a token bound to no key is refused either way
//! (`sender_constraint_required`).
//!
//! The `dangerous()` opt-out of an issuer or of introspection
//! (`accept_sender_constrained_as_bearer`) accepts bound tokens as bearer tokens for
//! deployments that enforce the binding in front of this filter.

use crate::access_token::{AccessToken, Binding};
use crate::claims::dpop_jkt;
use crate::dpop::{DpopError, DpopState, VerifiedProof};
use crate::error::AuthError;
use crate::explain::Trace;
use crate::extract::{RequestParts, Scheme};
use crate::verify::Verifier;

/// What `bind` needs besides the token: how it came, and the filter's DPoP settings.
pub(crate) struct Presented<'a> {
    /// The token as sent, and its scheme.
    pub(crate) credential: Option<(Scheme, &'a str)>,
    pub(crate) dpop: Option<&'a DpopState>,
    /// The clock (read only for a proof).
    pub(crate) verifier: &'a Verifier,
    /// The schemes the route takes.
    pub(crate) accepts: crate::filter::Accepts,
    /// Only sender-constrained tokens (the FAPI 2.0 profile).
    pub(crate) sender_constrained: bool,
}

/// Checks the token's binding against the request. `Ok(Some(proof))`: a DPoP proof this
/// instance accepts, still to be checked by the shared replay store
/// ([`DpopState::shared_first_use`]).
pub(crate) fn bind(
    token: &AccessToken,
    parts: &RequestParts<'_>,
    presented: &Presented<'_>,
    trace: &mut Trace,
) -> Result<Option<VerifiedProof>, AuthError> {
    let scheme = presented.credential.map_or(Scheme::Bearer, |(s, _)| s);
    match (token.binding(), scheme) {
        (Binding::None | Binding::AcceptedAsBearer, _) if presented.sender_constrained => {
            trace.fail("binding", || {
                "a token bound to no key where sender-constrained tokens are required".to_owned()
            });
            Err(AuthError::SenderConstraintRequired)
        }
        (Binding::None | Binding::AcceptedAsBearer | Binding::Mtls, Scheme::Bearer)
            if !presented.accepts.bearer =>
        {
            trace.fail("binding", || {
                "the Bearer scheme where only DPoP is accepted".to_owned()
            });
            Err(AuthError::DpopRequired)
        }
        (Binding::None, Scheme::Bearer) => {
            trace.pass("binding", || "a bearer token (no cnf)".to_owned());
            Ok(None)
        }
        (Binding::AcceptedAsBearer, Scheme::Bearer) => {
            trace.pass("binding", || {
                "bound to a key; accepted as a bearer token by configuration".to_owned()
            });
            Ok(None)
        }
        (Binding::Mtls, Scheme::Bearer) => {
            let bound_to = crate::mtls::bound_thumbprint(token.claims())
                .ok_or(AuthError::SenderConstrainedToken)?;
            match crate::mtls::check(bound_to, parts.request_client_certificate()) {
                Ok(()) => {
                    trace.pass("binding", || {
                        "bound to the connection's client certificate (RFC 8705)".to_owned()
                    });
                    Ok(None)
                }
                Err(e) => {
                    trace.fail("binding", || e.description().to_owned());
                    Err(e)
                }
            }
        }
        (Binding::None | Binding::AcceptedAsBearer | Binding::Mtls, _) => {
            trace.fail("binding", || {
                "the DPoP scheme with a token that is not DPoP-bound".to_owned()
            });
            Err(AuthError::NotDpopBound)
        }
        (Binding::Dpop, Scheme::Dpop) => {
            let (Some(dpop), Some((_, raw))) = (presented.dpop, presented.credential) else {
                return Err(AuthError::SenderConstrainedToken);
            };
            let jkt = dpop_jkt(token.claims()).ok_or(AuthError::SenderConstrainedToken)?;
            let checked = parts
                .dpop_proof()
                .and_then(|p| p.ok_or(DpopError::Missing))
                .and_then(|proof| {
                    dpop.check(
                        proof,
                        parts.request_method(),
                        parts.request_path(),
                        raw,
                        jkt,
                        presented.verifier.now(),
                    )
                });
            match checked {
                Ok(proof) => {
                    trace.pass("binding", || "DPoP proof by the token's key".to_owned());
                    Ok(dpop.needs_io().then_some(proof))
                }
                Err(e) => {
                    trace.fail("binding", || e.description().to_owned());
                    Err(AuthError::Dpop(e))
                }
            }
        }
        (Binding::Dpop | Binding::Unproven, _) => {
            trace.fail("binding", || {
                "bound to a key (cnf or DPoP), and no proof of possession is verified".to_owned()
            });
            Err(AuthError::SenderConstrainedToken)
        }
    }
}
