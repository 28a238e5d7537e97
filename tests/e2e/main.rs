//! End-to-end tests of the whole Realname flow: the real `realname-server` binary on port 0 with
//! a fresh database (SQLite, or PostgreSQL when `REALNAME_TEST_DATABASE_URL=postgres://…`), the
//! real face models, the PC side over HTTP and in a real browser, the companion side over the
//! JSON API with real frames from `../shared/data/liveness`.

mod browser;
mod browser_paths;
mod desktop;
mod face_flow;
mod light;
mod paths;
mod try_it;
