//! The Realname verification backend as a library: configuration, storage, PC pages, companion API.
