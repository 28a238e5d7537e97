//! Integration tests of the `realname` binary, driven through `--json` against a real server
//! started in this process on port 0 (SQLite in a temp folder, real face models, recorded
//! clips from the shared test data).

mod cli {
    pub(crate) mod attack;
    pub(crate) mod credentials;
    pub(crate) mod light;
    pub(crate) mod load;
    pub(crate) mod load_light;
    pub(crate) mod load_random;
    pub(crate) mod record_flash;
    pub(crate) mod support;
    pub(crate) mod usage;
    pub(crate) mod verify;
}
