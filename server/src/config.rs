//! Server configuration: CLI flags with environment fallbacks (clap).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser};

/// Interval at which the server pings each WebSocket (y-sweet pings every 20 s).
pub const PING_INTERVAL: Duration = Duration::from_secs(15);
/// Silence after which a connection counts as dead and its presence is dropped.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(40);
/// Time a new connection has to send a valid hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Default seconds between a busy room's snapshots (`--snapshot-secs`).
pub const SNAPSHOT_SECS: u64 = 30;

/// Plenary: a real-time backend for live online workshops.
#[derive(Debug, Clone, Parser)]
#[command(name = "plenary", version, about)]
pub struct Config {
    /// Address and port to listen on (port 0 picks a free port).
    #[arg(long, env = "PLENARY_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Directory for durable state (the token secret, and the embedded store).
    #[arg(long, env = "PLENARY_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Secret for signing tokens. Default: a random secret kept in DATA_DIR/secret.key.
    #[arg(long, env = "PLENARY_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// Public base URL used in join links (default: derived from the request's Host header).
    /// Its origin may open WebSockets; an `https://` URL also turns on HSTS.
    #[arg(long, env = "PLENARY_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// More origins (`https://host[:port]`, comma-separated) whose pages may open a WebSocket.
    /// With neither this nor a public URL, only pages of the host the request names may.
    #[arg(long, env = "PLENARY_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Maximum number of simultaneous WebSocket connections; more get HTTP 503.
    #[arg(long, env = "PLENARY_MAX_CONNECTIONS", default_value_t = 20_000)]
    pub max_connections: usize,

    /// Largest inbound WebSocket message in bytes; larger ones close the connection with 1009.
    #[arg(long, env = "PLENARY_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub max_frame_bytes: usize,

    /// Bytes that may wait in one connection's outbound queue; beyond that the client is too
    /// slow and is closed with 4004 so that it reconnects and catches up.
    #[arg(long, env = "PLENARY_OUTBOX_BYTES", default_value_t = 1024 * 1024)]
    pub outbox_bytes: usize,

    /// Sustained messages per second accepted from one connection.
    #[arg(long, env = "PLENARY_RATE_PER_SEC", default_value_t = 50)]
    pub rate_per_sec: u32,

    /// Burst of messages accepted from one connection above the sustained rate.
    #[arg(long, env = "PLENARY_RATE_BURST", default_value_t = 200)]
    pub rate_burst: u32,

    /// Read buffer of each WebSocket in bytes (the WebSocket library's default is 128 KiB).
    /// Small buffers keep idle connections cheap; a larger message still arrives whole.
    #[arg(long, env = "PLENARY_WS_READ_BUFFER", default_value_t = 1024)]
    pub ws_read_buffer: usize,

    /// Bytes each WebSocket gathers before writing to the socket (library default 128 KiB).
    #[arg(long, env = "PLENARY_WS_WRITE_BUFFER", default_value_t = 1024)]
    pub ws_write_buffer: usize,

    /// Lifetime of attendee, observer and facilitator tokens, in hours.
    #[arg(long, env = "PLENARY_TOKEN_TTL_HOURS", default_value_t = 72)]
    pub token_ttl_hours: u64,

    /// Milliseconds without any frame from a client before it is dropped (heartbeat TTL).
    #[arg(long, env = "PLENARY_HEARTBEAT_TIMEOUT_MS", default_value_t = HEARTBEAT_TIMEOUT.as_millis() as u64)]
    pub heartbeat_timeout_ms: u64,

    /// Milliseconds a new connection has to send hello.
    #[arg(long, env = "PLENARY_HELLO_TIMEOUT_MS", default_value_t = HELLO_TIMEOUT.as_millis() as u64)]
    pub hello_timeout_ms: u64,

    /// Milliseconds that shutdown waits for connections to drain.
    #[arg(long, env = "PLENARY_DRAIN_TIMEOUT_MS", default_value_t = 5_000)]
    pub drain_timeout_ms: u64,

    /// Durability of the embedded store. `normal`: an acknowledged op survives a crash of the
    /// process; `full`: it also survives power loss (every commit is fsynced).
    #[arg(long, env = "PLENARY_SYNC", value_enum, default_value = "normal")]
    pub sync: crate::sqlite::Sync,

    /// Size cap of the embedded store (database and write-ahead log together) in MiB; writes
    /// beyond it are refused with `unavailable`.
    #[arg(long, env = "PLENARY_MAX_DB_MIB")]
    pub max_db_mib: Option<u64>,

    /// How often a room that took ops writes a snapshot of its document, in seconds (it also
    /// writes one every 1,000 ops); the store drops the ops a snapshot covers.
    #[arg(long, env = "PLENARY_SNAPSHOT_SECS", default_value_t = SNAPSHOT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub snapshot_secs: u64,

    /// Multi-node mode: share workshops and rooms with other nodes through this Redis
    /// (`redis://host:port`). Without it, the embedded single-node store is used.
    #[arg(long, env = "PLENARY_REDIS_URL")]
    pub redis_url: Option<String>,

    /// This node's name in multi-node mode (presence entries); random when absent.
    #[arg(long, env = "PLENARY_NODE_ID")]
    pub node_id: Option<String>,

    /// Log format: `text` or `json`.
    #[arg(long, env = "PLENARY_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

impl Config {
    /// Defaults for tests and embedding: port 0 and a given data dir. The environment is not
    /// read: a `PLENARY_*` variable left in a developer's shell must not change a test's server.
    pub fn for_tests(data_dir: impl Into<PathBuf>) -> Self {
        let matches = Config::command_without_env().get_matches_from(["plenary"]);
        let mut config = Config::from_arg_matches(&matches).expect("the defaults are valid");
        config.bind = "127.0.0.1:0".parse().expect("valid literal address");
        config.data_dir = data_dir.into();
        config
    }

    /// The command line without its environment fallbacks.
    fn command_without_env() -> clap::Command {
        Config::command().mut_args(|arg| arg.env(None::<&str>))
    }

    pub fn heartbeat_timeout(&self) -> Duration {
        Duration::from_millis(self.heartbeat_timeout_ms)
    }

    pub fn snapshot_every(&self) -> Duration {
        Duration::from_secs(self.snapshot_secs)
    }

    pub fn hello_timeout(&self) -> Duration {
        Duration::from_millis(self.hello_timeout_ms)
    }

    /// The ping interval: the named default, shortened when the heartbeat timeout is short.
    pub fn ping_interval(&self) -> Duration {
        PING_INTERVAL.min(self.heartbeat_timeout() / 3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_defaults_do_not_read_the_environment() {
        // Checked on the command, not by setting a variable: the environment is shared by every
        // thread of the test binary.
        let reads_env = |command: clap::Command| {
            command
                .get_arguments()
                .filter(|arg| arg.get_env().is_some())
                .count()
        };
        assert!(
            reads_env(Config::command()) > 10,
            "the binary reads PLENARY_*"
        );
        assert_eq!(reads_env(Config::command_without_env()), 0);
        assert_eq!(Config::for_tests("data").snapshot_secs, SNAPSHOT_SECS);
    }
}
