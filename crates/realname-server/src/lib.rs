//! The Realname verification backend as a library: configuration, storage, PC pages, companion
//! API, and [`start`] to run it in-process (tests) or from the thin `realname-server` binary.
//!
//! Data flow: PC page (identity form) → [`verification`] (authority check, face session, QR
//! handle) → companion API ([`api`]: claim, confirm, capture) → `realname_decision` (face engine via
//! `realname_decision::FaceAnalyzer`, `realname_liveness`) → [`store`] → server push ([`events`]) → PC page.

pub mod clock;
pub mod config;
pub mod crypto;
pub mod directories;
pub mod email;
pub mod error;
pub mod events;
pub mod flows;
pub mod http;
pub mod key_rotation;
pub mod metrics;
pub mod qr;
pub mod queue;
pub mod ratelimit;
pub mod retention;
pub mod settings;
pub mod state;
pub mod store;
pub mod upload_gate;
pub mod webhooks;

// The paths before the layering (`realname_server::web`, `::verification`, …) stay valid for
// the tests and other crates; the server's own modules use the layered paths.
pub use flows::face as verification;
pub use flows::face::{authority, demo};
pub use flows::mobile;
pub use flows::partner;
pub use flows::partner::local as partner_local;
pub use http::{api, ops, security, web};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use config::{AuthorityKind, Config};
use crypto::{DataKeys, KeySource};
use directories::{CarrierDirectory, IdentityAuthority, PartnerDirectory, SmsGateway};
use flows::face::authority::{HttpAuthority, LocalRegistry};
use state::{AppState, Clock, Inner, SystemClock};
use store::Store;
use tokio::sync::oneshot;

pub use config::Config as ServerConfig;
// The capture decision lives in its own crate (`realname-decision`, a pure function of the
// frames); these paths keep `crate::face::…`/`realname_server::face::…` working for the
// server's modules and tests. New code imports `realname_decision` directly.
pub use error::ServerError;
pub use realname_decision::{decision, face, tracking, upload};

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The database cannot be opened or migrated.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The data key cannot be loaded or generated.
    #[error(transparent)]
    Key(#[from] crypto::CryptoError),
    /// The face models cannot be loaded.
    #[error("face engine: {0}")]
    Face(#[from] realname_face::FaceError),
    /// The identity authority cannot be set up.
    #[error(transparent)]
    Authority(#[from] directories::AuthorityError),
    /// The partner directory cannot be set up.
    #[error(transparent)]
    Partner(#[from] directories::PartnerError),
    /// The carrier directory or SMS gateway cannot be set up.
    #[error(transparent)]
    Channel(#[from] directories::ChannelError),
    /// The mailer cannot be set up.
    #[error(transparent)]
    Mail(#[from] email::MailError),
    /// The webhook HTTP client cannot be built.
    #[error("webhooks: {0}")]
    Webhooks(String),
    /// A template does not parse (a bug).
    #[error("templates: {0}")]
    Templates(String),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl From<key_rotation::KeyCheckError> for StartError {
    fn from(e: key_rotation::KeyCheckError) -> Self {
        match e {
            key_rotation::KeyCheckError::Store(e) => Self::Store(e),
            key_rotation::KeyCheckError::Key(e) => Self::Key(e),
        }
    }
}

/// Parts that can be swapped (tests, demos); `None` = built from the configuration.
#[derive(Debug, Default)]
pub struct Services {
    /// Storage (default: [`store::connect`] to the configured URL).
    pub store: Option<Arc<dyn Store>>,
    /// Face engine (default: the real engine from `models_dir`).
    pub analyzer: Option<face::SharedAnalyzer>,
    /// Identity authority (default: per `config.authority`).
    pub authority: Option<Arc<dyn IdentityAuthority>>,
    /// Clock (default: the system clock).
    pub clock: Option<Arc<dyn Clock>>,
}

/// Opens the data keys named by the configuration, generating one on first run.
pub fn load_keys(config: &Config) -> Result<DataKeys, StartError> {
    let file = config.data_key_file();
    let (keys, source) = DataKeys::load_or_generate(config.data_key.as_ref().map(|s| s.expose()), &file)?;
    if source == KeySource::Generated {
        tracing::warn!(
            path = %file.display(),
            "no data key configured: generated a new one (mode 0600). Back it up: without it the stored ID numbers cannot be read"
        );
    }
    Ok(keys)
}

/// Builds the application state: storage (migrated), keys, face engine, authority, templates.
pub async fn build_state(config: Config, origin: String, services: Services) -> Result<AppState, StartError> {
    config.validate()?;
    if config.test.test_mode {
        // Loud on purpose: one warning per test-only setting, each naming what it weakens.
        tracing::warn!(listen = %config.listen, "!!! TEST MODE (REALNAME_TEST_MODE=1): test-only settings are active; never run a production server like this !!!");
        if config.test.fixed_challenge.is_some() {
            tracing::warn!(
                "!!! TEST MODE: the liveness challenge is pinned (REALNAME_TEST_FIXED_CHALLENGE): recorded clips pass !!!"
            );
        }
    }
    let keys = load_keys(&config)?;
    let store = match services.store {
        Some(s) => s,
        None => store::connect(&config.database_url()).await?,
    };
    let analyzer: face::SharedAnalyzer = match services.analyzer {
        Some(a) => a,
        None => {
            let dir = config.models_dir.clone();
            Arc::new(
                tokio::task::spawn_blocking(move || face::EngineAnalyzer::load(&dir))
                    .await
                    .map_err(|e| realname_face::FaceError::Inference(e.to_string()))??,
            )
        }
    };
    let authority: Arc<dyn IdentityAuthority> = match services.authority {
        Some(a) => a,
        None => match config.authority.kind {
            AuthorityKind::Local => Arc::new(LocalRegistry::new(Arc::clone(&store), keys.clone())),
            AuthorityKind::Http => Arc::new(HttpAuthority::new(
                config.authority.url.as_deref().unwrap_or_default(),
                config.authority.api_key.clone(),
                Duration::from_millis(config.authority.timeout_ms),
                config.authority.retries,
                Arc::clone(&analyzer),
            )?),
        },
    };
    // Outside demo mode no demo identity verifies anyone, whatever authority answers.
    let authority: Arc<dyn IdentityAuthority> =
        if config.demo.enabled { authority } else { Arc::new(demo::DemoGuard(authority)) };
    if config.demo.enabled {
        tracing::warn!(
            "DEMO MODE: demo identities (ID numbers 710000 1900…) verify; never run a production server like this"
        );
    }
    let clock: Arc<dyn Clock> = services.clock.unwrap_or_else(|| Arc::new(SystemClock));
    let (partners, carrier, sms) = paths_services(&config, &store, &keys, &clock)?;
    let mailer = email::mailer(&config.email, &store, &keys, &clock)?;
    let secure_cookies = config.secure_cookies.unwrap_or_else(|| origin.starts_with("https://"));
    http::web::templates::shared().map_err(StartError::Templates)?;
    key_rotation::check_key_id(&*store, &keys, clock.now()).await?;
    let changes = store.session_changes().await?;
    let decisions = queue::DecisionQueue::new(config.face.decision_workers, config.face.decision_queue);
    // The services, each with the parts it uses.
    let config = Arc::new(config);
    let events = Arc::new(events::EventHub::default());
    let metrics = Arc::new(metrics::Metrics::default());
    let instance = crypto::random_id();
    let core = flows::core::FlowCore {
        store: Arc::clone(&store),
        keys: keys.clone(),
        clock: Arc::clone(&clock),
        config: Arc::clone(&config),
        authority: Arc::clone(&authority),
    };
    let limiter = ratelimit::RateLimiter::new(
        Arc::clone(&store),
        keys.clone(),
        Arc::clone(&clock),
        Arc::clone(&metrics),
        config.rate_limits.clone(),
        [config.sms.per_phone_per_hour, config.sms.per_account_per_hour, config.sms.per_ip_per_hour],
    );
    let email = email::Confirmations::new(
        Arc::clone(&store),
        Arc::clone(&mailer),
        Arc::clone(&clock),
        origin.clone(),
        config.email.clone(),
    );
    let face = flows::face::FaceFlow {
        core: core.clone(),
        analyzer: Arc::clone(&analyzer),
        events: Arc::clone(&events),
        decisions: decisions.clone(),
        origin: origin.clone(),
        instance: instance.clone(),
    };
    let partner = flows::partner::PartnerFlow {
        core: core.clone(),
        partners: Arc::clone(&partners),
        email: email.clone(),
        origin: origin.clone(),
    };
    let mobile = flows::mobile::MobileFlow {
        core,
        carrier: Arc::clone(&carrier),
        sms: Arc::clone(&sms),
        limiter: limiter.clone(),
    };
    let state = AppState(Arc::new(Inner {
        decisions,
        config,
        store,
        keys,
        analyzer,
        authority,
        partners,
        carrier,
        sms,
        mailer,
        events,
        clock,
        origin,
        secure_cookies,
        shutdown: tokio::sync::watch::channel(false).0,
        instance,
        metrics,
        uploads: upload_gate::UploadGate::default(),
        face,
        partner,
        mobile,
        limiter,
        email,
    }));
    if let Some(changes) = changes {
        tokio::spawn(relay_changes(state.clone(), changes));
    }
    webhooks::start(&state).map_err(|e| StartError::Webhooks(e.to_string()))?;
    Ok(state)
}

/// The partner directory, carrier directory and SMS gateway the configuration names.
#[allow(clippy::type_complexity)]
fn paths_services(
    config: &Config,
    store: &Arc<dyn Store>,
    keys: &DataKeys,
    clock: &Arc<dyn Clock>,
) -> Result<(Arc<dyn PartnerDirectory>, Arc<dyn CarrierDirectory>, Arc<dyn SmsGateway>), StartError> {
    use config::{CarrierKind, PartnerKind, SmsKind};
    let partners: Arc<dyn PartnerDirectory> = match config.partners.kind {
        PartnerKind::Local => {
            Arc::new(partner::LocalPartnerDirectory::new(Arc::clone(store), keys.clone(), Arc::clone(clock)))
        }
        PartnerKind::Http => Arc::new(partner::HttpPartnerDirectory::new(
            &config.partners.name,
            config.partners.authorize_url.as_deref().unwrap_or_default(),
            config.partners.token_url.as_deref().unwrap_or_default(),
            config.partners.secret.clone().unwrap_or_default(),
            Duration::from_millis(config.partners.timeout_ms),
            config.partners.retries,
        )?),
    };
    let carrier: Arc<dyn CarrierDirectory> = match config.carrier.kind {
        CarrierKind::Local => Arc::new(mobile::LocalCarrierDirectory::new(Arc::clone(store), keys.clone())),
        CarrierKind::Http => Arc::new(mobile::HttpCarrierDirectory::new(
            config.carrier.url.as_deref().unwrap_or_default(),
            config.carrier.api_key.clone(),
            Duration::from_millis(config.carrier.timeout_ms),
            config.carrier.retries,
        )?),
    };
    let sms: Arc<dyn SmsGateway> = match config.sms.kind {
        SmsKind::Outbox => Arc::new(mobile::OutboxGateway::new(Arc::clone(store), keys.clone(), Arc::clone(clock))),
        SmsKind::Http => Arc::new(mobile::HttpSmsGateway::new(
            config.sms.url.as_deref().unwrap_or_default(),
            config.sms.api_key.clone(),
            Duration::from_millis(config.sms.timeout_ms),
        )?),
    };
    Ok((partners, carrier, sms))
}

/// Relays other instances' session changes to this instance's subscribers (PostgreSQL).
async fn relay_changes(state: AppState, mut changes: store::SessionChanges) {
    use futures::StreamExt as _;
    let mut shutdown = state.shutdown.subscribe();
    loop {
        tokio::select! {
            next = changes.next() => match next {
                Some((instance, id)) if instance != state.instance => {
                    if let Ok(Some(s)) = state.store.face_session(&id).await {
                        state.events.publish(&id, state.face.event_of(&s));
                    }
                }
                Some(_) => {}
                None => {
                    // The database connection went away (restart, failover). Listen again as
                    // soon as it is back, then re-read every session a page here is watching:
                    // notifications sent meanwhile are lost.
                    tracing::warn!("session change listener lost its connection; reconnecting");
                    match relisten(&state, &mut shutdown).await {
                        Some(next) => changes = next,
                        None => return,
                    }
                    for id in state.events.watched() {
                        if let Ok(Some(s)) = state.store.face_session(&id).await {
                            state.events.publish(&id, state.face.event_of(&s));
                        }
                    }
                    tracing::info!("session change listener reconnected");
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

/// Subscribes to session changes again, retrying with backoff until it works or the server
/// stops (`None`).
async fn relisten(
    state: &AppState,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<store::SessionChanges> {
    let mut wait = Duration::from_millis(250);
    loop {
        match state.store.session_changes().await {
            Ok(Some(changes)) => return Some(changes),
            Ok(None) => return None,
            Err(e) => tracing::debug!(error = %e, "session change listener: database not reachable yet"),
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return None,
        }
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

/// The whole HTTP application for a state (for `tower::ServiceExt::oneshot` tests).
pub fn app(state: AppState) -> axum::Router {
    web::router(state)
}

/// A server running in this process.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// The bound address (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The application state (stores, clock…), e.g. for admin actions in tests.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting connections, lets open requests finish, and waits.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.state.shutdown.send_replace(true);
        (&mut self.task).await.unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }

    /// Waits until the server stops (it stops on [`RunningServer::shutdown`] only).
    pub async fn wait(mut self) -> std::io::Result<()> {
        (&mut self.task).await.unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

/// Starts the server with everything built from the configuration.
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    start_with(config, Services::default()).await
}

/// Starts the server with some parts swapped.
pub async fn start_with(config: Config, services: Services) -> Result<RunningServer, StartError> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.listen, source })?;
    let origin = config.public_origin(addr);
    let state = build_state(config, origin, services).await?;
    let router = app(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    tokio::spawn(retention::purge_loop(state.clone()));
    tracing::info!(%addr, origin = %state.origin, engine = state.store.engine(), "server started");
    Ok(RunningServer { addr, state, shutdown: Some(tx), task })
}
