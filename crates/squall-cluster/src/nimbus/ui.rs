//! The web UI's pages: the bundle built from `ui/` (see `ui/README.md`)
//! into `ui/dist/`, embedded in the binary with `rust-embed` (in debug
//! builds too: nothing is read from disk or fetched at run time), served at
//! `/` by the leading nimbus on its REST address and by `squall run --ui`.
//! A standby nimbus answers every route but the health check with a
//! redirect to the leader.
//!
//! The pages are static and public (they hold no data); everything they
//! show comes from the JSON routes of [`crate::nimbus::ui_api`], which need the
//! bearer token: the page asks for it once (or takes it from the URL's
//! `#token=...`, which `squall run --ui` prints) and keeps it in the
//! browser's session storage.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use rust_embed::RustEmbed;

use crate::nimbus::ui_api::{Backend, UiState};
use crate::protocol::auth::Tokens;
use crate::protocol::rest::error;
use crate::protocol::store::Store;

#[derive(RustEmbed)]
#[folder = "../../ui/dist/"]
struct Assets;

/// Who answers the health check.
#[derive(Clone)]
pub enum Role {
    /// A nimbus: leader or standby, as `leading` says.
    Nimbus {
        /// etcd, to name the leader.
        store: Box<Store>,
        /// Whether this nimbus leads.
        leading: Arc<AtomicBool>,
    },
    /// `squall run --ui`.
    Local,
}

impl Role {
    /// `(role, leader URL)`.
    pub(crate) async fn describe(&self) -> (String, Option<String>) {
        match self {
            Role::Local => ("local".into(), None),
            Role::Nimbus { store, leading } => {
                let leader = store.nimbus_leader().await.ok().flatten();
                let role = if leading.load(Ordering::SeqCst) { "leader" } else { "standby" };
                (role.into(), leader)
            }
        }
    }
}

/// The embedded pages: `/` and the files of `ui/dist/`.
pub fn pages<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().fallback(asset)
}

async fn asset(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") {
        return error(StatusCode::NOT_FOUND, format!("no route {}", uri.path()));
    }
    let path = if path.is_empty() { "index.html" } else { path };
    match Assets::get(path) {
        Some(file) => {
            let mime = match path.rsplit('.').next() {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                Some("svg") => "image/svg+xml",
                Some("png") => "image/png",
                Some("json") => "application/json",
                _ => "application/octet-stream",
            };
            let cache = if path == "index.html" { "no-cache" } else { "max-age=300" };
            ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, cache)], file.data)
                .into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// Nimbus's whole app: the REST API `api` (its own routes, token-guarded),
/// the UI's JSON routes over etcd (guarded by `tokens`, [`crate::protocol::auth`];
/// supervisors' logs are asked for with `token`, the full one), the health
/// check and the pages; while `leading` is false, a redirect to the leader
/// instead (but the health check).
pub fn nimbus_app(
    api: Router,
    store: Store,
    tokens: Arc<Tokens>,
    token: String,
    leading: Arc<AtomicBool>,
) -> Router {
    let cluster = crate::nimbus::ui_cluster::ClusterBackend::new(store.clone(), token.clone());
    let backend = Backend::Cluster(Box::new(cluster));
    let state = UiState::start(backend, token);
    let role = Role::Nimbus { store: Box::new(store.clone()), leading: leading.clone() };
    let guarded = crate::nimbus::ui_api::routes(state)
        .layer(middleware::from_fn_with_state(tokens, crate::protocol::auth::guard));
    Router::new()
        .merge(api)
        .merge(guarded)
        .merge(pages())
        .layer(middleware::from_fn_with_state((store, leading), standby_redirect))
        .merge(crate::nimbus::ui_api::health_route(role))
        .layer(middleware::from_fn(crate::nimbus::api::json_errors))
}

/// A standby nimbus sends every request to the leader (307, so that the
/// method and body are kept); 503 while no nimbus leads.
async fn standby_redirect(
    State((store, leading)): State<(Store, Arc<AtomicBool>)>,
    request: Request,
    next: Next,
) -> Response {
    if leading.load(Ordering::SeqCst) {
        return next.run(request).await;
    }
    match store.nimbus_leader().await {
        Ok(Some(leader)) => {
            let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
            let location = format!("{}{path}", leader.trim_end_matches('/'));
            (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, location)]).into_response()
        }
        _ => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this nimbus is a standby and no nimbus leads yet",
        ),
    }
}

/// Serves [`local_app`] on `listener` until the process ends (call it
/// inside a tokio runtime), over HTTPS with this process's `[api_tls]`
/// ([`crate::protocol::api_tls::served`]).
///
/// # Errors
/// TLS files that do not load; if serving fails.
pub async fn serve_local(
    listener: tokio::net::TcpListener,
    local: Arc<crate::nimbus::ui_local::LocalBackend>,
    token: String,
) -> crate::Result<()> {
    let app = local_app(local, token);
    crate::protocol::api_tls::serve_configured(listener, app, &crate::protocol::api_tls::served())
        .await
}

/// `squall run --ui`'s app over `local`: the same JSON routes and the
/// same action routes as nimbus's, guarded by `token`; the health check
/// and the pages.
pub fn local_app(local: Arc<crate::nimbus::ui_local::LocalBackend>, token: String) -> Router {
    let tokens = Arc::new(Tokens::full_only(&token));
    let state = UiState::start(Backend::Local(local.clone()), token);
    let guarded = crate::nimbus::ui_api::routes(state)
        .merge(crate::nimbus::ui_local::action_routes(local))
        .layer(middleware::from_fn_with_state(tokens, crate::protocol::auth::guard));
    Router::new()
        .merge(guarded)
        .merge(crate::nimbus::ui_api::health_route(Role::Local))
        .merge(pages())
}
