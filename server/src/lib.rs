//! Plenary's server: workshops, breakout rooms and live co-editing over WebSockets.
//!
//! `server::run(listener, config, shutdown)` is the whole server, so tests bind port 0.

pub mod api;
pub mod auth;
pub mod backend;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod outbox;
pub mod room;
pub mod security;
pub mod server;
pub mod sqlite;
pub mod state;
pub mod store;
pub mod timer;
pub mod web;
pub mod workshop;
pub mod ws;

pub use config::Config;
pub use server::run;
