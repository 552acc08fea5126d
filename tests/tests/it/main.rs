//! One integration-test binary with shared helpers (see `plenary_tests`).

mod coedit;
mod connections;
mod crash;
mod durability;
mod flow;
