//! The HTTP layer, top of the server: the PC pages ([`web`]), the companion API ([`api`]),
//! security headers, `ClientAddr` and admin sign-in ([`security`]), and the ops routes ([`ops`]).
//! It may import everything below it; nothing below imports it.

pub mod api;
pub mod ops;
pub mod security;
pub mod web;

use std::sync::Arc;

use axum::extract::FromRef;

use crate::state::AppState;
use web::templates::Templates;

/// The routers' state: the application's services ([`AppState`]) plus the parts only the HTTP
/// layer uses, each reachable as its own `State<…>` through axum's [`FromRef`]. Handlers take
/// `State<AppState>`; the page context takes the templates.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// The services.
    pub app: AppState,
    /// Page templates.
    pub templates: Arc<Templates>,
}

impl HttpState {
    /// The HTTP state over `app`, with the templates compiled into the binary (checked when the
    /// application state was built: `build_state` refuses to start when one does not parse).
    pub fn new(app: AppState) -> Self {
        Self { app, templates: web::templates::shared().expect("templates are checked by build_state") }
    }
}

impl std::ops::Deref for HttpState {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.app
    }
}

impl FromRef<HttpState> for AppState {
    fn from_ref(state: &HttpState) -> Self {
        state.app.clone()
    }
}

impl FromRef<HttpState> for Arc<Templates> {
    fn from_ref(state: &HttpState) -> Self {
        Arc::clone(&state.templates)
    }
}
