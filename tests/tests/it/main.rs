//! One integration-test binary with shared helpers (see `plenary_tests`).

mod coedit;
mod connections;
mod durability;
mod flow;
