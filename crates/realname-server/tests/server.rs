//! Integration tests of the backend: routers driven with `tower::ServiceExt::oneshot`, against
//! SQLite (default) or PostgreSQL (`REALNAME_TEST_DATABASE_URL=postgres://…`: every test gets
//! a fresh database on that server).

mod server {
    pub(crate) mod support;

    mod accounts;
    mod companion;
    mod concurrency;
    mod demo;
    mod hostile;
    mod identity_form;
    mod instances;
    mod light;
    mod limits;
    mod outage;
    mod partner_oauth;
    mod paths;
    mod pii_logs;
    mod qr_and_events;
    mod real_faces;
    mod retention;
    mod review;
    mod review_uploads;
    mod running;
    mod security;
    mod similarity_replay;
    mod snapshots;
    mod webhooks;
}
