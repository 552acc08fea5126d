//! The storage seam. Room actors and workshops write through [`Store`]; start-up reads
//! everything back with [`Store::load`]. The embedded default is [`crate::sqlite::SqliteStore`];
//! [`MemoryStore`] keeps nothing and serves unit tests.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use plenary_protocol::{Doc, Op, Value};

/// A storage failure: nothing of the write was kept. Every kind is answered `unavailable` to
/// a client (it may resend later); the kind says why, for the message, the logs and
/// `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store could not take or read this now (an I/O error, Redis not answering, a lock
    /// held too long); it may work on the next try.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// No room left: the `--max-db-mib` cap or the disk. Writes work again once trimming or an
    /// operator makes room.
    #[error("storage full: {0}")]
    Full(String),
    /// What the store holds does not read back (bad JSON, a database of a newer version):
    /// an operator must look; retrying does not help.
    #[error("storage corrupt: {0}")]
    Corrupt(String),
    /// The store is closing or closed (the node is shutting down).
    #[error("storage stopped: {0}")]
    Stopped(String),
}

impl StoreError {
    /// What to tell a client whose change was not stored.
    pub fn client_message(&self) -> &'static str {
        match self {
            StoreError::Full(_) => "the server's storage is full; retry later",
            StoreError::Stopped(_) => "the server is shutting down; retry after reconnecting",
            StoreError::Unavailable(_) | StoreError::Corrupt(_) => {
                "the server could not store this change; retry later"
            }
        }
    }
}

/// One op as stored: its seq, the op, and the participant that sent it (for deduplication).
#[derive(Debug, Clone)]
pub struct StoredOp {
    pub seq: u64,
    pub op: Op,
    pub participant: String,
}

/// An op as written: its seq, who sent it, and its JSON text (encoded once, by the room, which
/// also builds the broadcast frame from it).
#[derive(Debug, Clone)]
pub struct EncodedOp {
    pub seq: u64,
    pub participant: String,
    pub op: String,
}

/// An op id a room remembers, to acknowledge a resend instead of ordering it twice.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dedup {
    pub op_id: String,
    pub seq: u64,
    pub participant: String,
}

/// A member's sealed value, kept by the server until the reveal: in its own private table (or
/// Redis hash), never in the room's log, snapshots or broadcasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    pub object: String,
    pub field: String,
    pub member: String,
    pub value: Value,
}

/// A change to a room's sealed values, committed in the same transaction as the op that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedWrite {
    /// A member sealed (or changed) a value.
    Put(SealedValue),
    /// A member withdrew a value.
    Remove {
        object: String,
        field: String,
        member: String,
    },
    /// The object's values were revealed (they are in the log now): drop them here.
    Reveal { object: String },
}

/// A write. Writes are applied in the order they are issued; one writer batches the writes that
/// arrive together into one transaction (group commit).
#[derive(Debug, Clone)]
pub enum Write {
    /// Ops of one room, in seq order, with the changes they make to the room's sealed values.
    Ops {
        workshop: Arc<str>,
        room: Arc<str>,
        epoch: u64,
        ops: Vec<EncodedOp>,
        sealed: Vec<SealedWrite>,
    },
    /// A room's document at `seq`, with the op ids to keep deduplicating after a restart. The
    /// store may drop the room's ops up to `seq` once this is committed.
    Snapshot {
        workshop: Arc<str>,
        room: Arc<str>,
        epoch: u64,
        seq: u64,
        doc: String,
        dedup: Vec<Dedup>,
    },
    /// A workshop's state (everything but the room documents), newer `version`s win.
    Workshop {
        id: String,
        version: u64,
        state: String,
    },
}

/// A room as loaded at start-up.
#[derive(Debug, Clone, Default)]
pub struct RoomRecord {
    pub epoch: u64,
    /// The seq the document reflects (the snapshot's seq plus the tail applied).
    pub seq: u64,
    pub doc: Doc,
    /// Op ids remembered with the snapshot, oldest first.
    pub dedup: Vec<Dedup>,
    /// The retained ops, ascending: the recent history, for catch-up and deduplication.
    pub recent: Vec<StoredOp>,
    /// Sealed values not revealed yet.
    pub sealed: Vec<SealedValue>,
}

/// Everything a store holds.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Workshop id -> (state JSON, rooms by id).
    pub workshops: HashMap<String, (String, HashMap<String, RoomRecord>)>,
}

pub type WriteFuture = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

/// Where workshops and room logs are kept.
pub trait Store: Send + Sync + 'static {
    /// Queues a write; the future resolves once it is as durable as the store promises.
    fn write(&self, write: Write) -> WriteFuture;

    /// Reads back everything (at start-up).
    fn load(&self) -> Result<Loaded, StoreError>;

    /// Whether the store can take writes right now (for `/readyz`), or why not.
    fn ready(&self) -> Result<(), &'static str>;

    /// Stops the store at shutdown, once nothing writes any more: writes already queued are
    /// committed, later ones refused, and the store's threads are joined.
    fn close(&self) -> WriteFuture;
}

/// Keeps nothing: for unit tests.
#[derive(Debug, Default)]
pub struct MemoryStore;

impl Store for MemoryStore {
    fn write(&self, _: Write) -> WriteFuture {
        Box::pin(std::future::ready(Ok(())))
    }

    fn load(&self) -> Result<Loaded, StoreError> {
        Ok(Loaded::default())
    }

    fn ready(&self) -> Result<(), &'static str> {
        Ok(())
    }

    fn close(&self) -> WriteFuture {
        Box::pin(std::future::ready(Ok(())))
    }
}
