//! One integration-test binary with shared helpers (see `plenary_tests`).

mod bad_input;
mod browser;
mod cluster;
mod coedit;
mod connections;
mod crash;
mod durability;
mod estimation;
mod flow;
mod load;
mod merge;
mod permissions;
mod sealed;
