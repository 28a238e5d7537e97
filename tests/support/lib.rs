//! Helpers shared by the end-to-end tests: locating test data and models, starting servers.
