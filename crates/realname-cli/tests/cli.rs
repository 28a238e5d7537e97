//! Integration tests of the `realname` binary, driven through `--json` against a real server
//! started in this process on port 0 (SQLite in a temp folder, real face models, recorded
//! clips from the shared test data).

mod cli {
    pub mod attack;
    pub mod credentials;
    pub mod light;
    pub mod load;
    pub mod load_light;
    pub mod record_flash;
    pub mod support;
    pub mod usage;
    pub mod verify;
}
