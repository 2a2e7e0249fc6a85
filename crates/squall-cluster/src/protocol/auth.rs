//! The REST API's bearer tokens ([`Tokens`]) and the middleware that checks
//! them ([`guard`]), shared by nimbus's API, the web UI's JSON routes,
//! `squall drpc-server`, `squall run --ui` and the supervisors' log servers.
//!
//! - The full token (`api_token`) may call every route.
//! - The read-only token (`api_read_token`, optional) may read: `GET` and
//!   `HEAD` of every route but DRPC's (a DRPC `GET` takes requests away from
//!   the topology's spouts). Anything else is refused with 403, so a
//!   dashboard or a Prometheus service discovery can hold a token that
//!   cannot kill, deactivate, rebalance, savepoint, submit or call DRPC.
//! - No token, or another one: 401.
//!
//! Tokens are compared in constant time: both sides are hashed with
//! SHA-256 (`ring`) and the digests compared with `subtle`, so the time of a
//! refusal tells neither a prefix of the token nor its length. A token is
//! never logged or put in an answer.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;

use crate::protocol::rest::error;
use crate::{Error, Result};

/// What a request's token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Every route (the full token).
    Full,
    /// Reads only (the read-only token).
    ReadOnly,
}

/// The accepted bearer tokens, as SHA-256 digests (the text is not kept).
#[derive(Clone)]
pub struct Tokens {
    full: [u8; 32],
    read: Option<[u8; 32]>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").field("read_only", &self.read.is_some()).finish_non_exhaustive()
    }
}

fn digest(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    d.as_ref().try_into().expect("SHA-256 digests are 32 bytes")
}

impl Tokens {
    /// The full token `full` and, if not empty, the read-only token `read`.
    ///
    /// # Errors
    /// [`Error::Config`] when `full` is empty or both are the same.
    pub fn new(full: &str, read: &str) -> Result<Self> {
        if full.is_empty() {
            return Err(Error::Config(
                "api_token is empty: set it in the file or SQUALL__API_TOKEN".into(),
            ));
        }
        if full == read {
            return Err(Error::Config(
                "api_read_token is the same as api_token: give the read-only token its own value"
                    .into(),
            ));
        }
        Ok(Tokens { full: digest(full), read: (!read.is_empty()).then(|| digest(read)) })
    }

    /// `token` alone, as given (`squall run --ui`, `squall drpc-server`).
    pub fn full_only(token: &str) -> Self {
        Tokens { full: digest(token), read: None }
    }

    /// What `given` allows; `None` when it is neither token. Constant time
    /// in the token's content and length.
    pub fn access(&self, given: &str) -> Option<Access> {
        let given = digest(given);
        let full: bool = given[..].ct_eq(&self.full[..]).into();
        // Both comparisons always run.
        let read: bool = self.read.map_or(0u8.ct_eq(&1), |r| given[..].ct_eq(&r[..])).into();
        if full {
            Some(Access::Full)
        } else if read {
            Some(Access::ReadOnly)
        } else {
            None
        }
    }
}

/// Whether the read-only token may make a `method` request to `path`.
pub fn readable(method: &Method, path: &str) -> bool {
    (method == Method::GET || method == Method::HEAD) && !path.starts_with("/drpc/")
}

/// Middleware: lets a request through when its `Authorization: Bearer`
/// token allows it; 401 without a token or with a wrong one, 403 for the
/// read-only token on a route that changes something.
pub async fn guard(State(tokens): State<Arc<Tokens>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(given) = given else {
        return error(StatusCode::UNAUTHORIZED, "an Authorization: Bearer token is required");
    };
    match tokens.access(given) {
        Some(Access::Full) => next.run(request).await,
        Some(Access::ReadOnly) if readable(request.method(), request.uri().path()) => {
            next.run(request).await
        }
        Some(Access::ReadOnly) => error(
            StatusCode::FORBIDDEN,
            "the read-only token may only read (GET); this needs the api_token",
        ),
        None => error(StatusCode::UNAUTHORIZED, "wrong bearer token"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_token_gets_its_access_and_nothing_else_does() {
        let tokens = Tokens::new("full-secret", "read-secret").unwrap();
        assert_eq!(tokens.access("full-secret"), Some(Access::Full));
        assert_eq!(tokens.access("read-secret"), Some(Access::ReadOnly));
        for wrong in ["", "full-secre", "full-secret ", "FULL-SECRET", "read-secretx"] {
            assert_eq!(tokens.access(wrong), None, "{wrong:?}");
        }
        let no_read = Tokens::new("full-secret", "").unwrap();
        assert_eq!(no_read.access(""), None);
        assert_eq!(no_read.access("read-secret"), None);
        assert!(!format!("{tokens:?}").contains("secret"), "{tokens:?}");
    }

    #[test]
    fn an_empty_or_shared_token_is_refused() {
        assert!(Tokens::new("", "r").unwrap_err().to_string().contains("api_token is empty"));
        let same = Tokens::new("t", "t").unwrap_err().to_string();
        assert!(same.contains("api_read_token"), "{same}");
    }

    #[test]
    fn the_read_only_token_reads_but_never_drpc() {
        assert!(readable(&Method::GET, "/api/v1/topologies"));
        assert!(readable(&Method::HEAD, "/api/v1/topologies/x/metrics"));
        assert!(!readable(&Method::POST, "/api/v1/topologies/x/deactivate"));
        assert!(!readable(&Method::DELETE, "/api/v1/topologies/x"));
        assert!(!readable(&Method::PUT, "/api/v1/binaries/x"));
        assert!(!readable(&Method::GET, "/drpc/f/requests"));
    }
}
