//! The storage seam. Room actors and the workshop write through [`Store`]; the in-memory
//! implementation keeps nothing across restarts. The embedded durable store plugs in here.

use plenary_protocol::Op;

/// A storage failure. The caller rejects the write with `unavailable` and applies nothing.
#[derive(Debug, thiserror::Error)]
#[error("storage: {0}")]
pub struct StoreError(pub String);

/// Where workshops and room logs are kept.
pub trait Store: Send + Sync + 'static {
    /// Commits a batch of ops of one room, in seq order, in one transaction (group commit).
    /// Returns only once the batch is as durable as the store promises.
    fn append_ops(
        &self,
        workshop: &str,
        room: &str,
        epoch: u64,
        ops: &[(u64, &Op)],
    ) -> Result<(), StoreError>;

    /// Saves a workshop's state (everything but room documents) as an opaque JSON document.
    fn save_workshop(&self, workshop: &str, state: &[u8]) -> Result<(), StoreError>;

    /// Whether the store can take writes right now (for `/readyz`).
    fn ready(&self) -> bool;
}

/// Keeps nothing: for tests and for running without a data dir.
#[derive(Debug, Default)]
pub struct MemoryStore;

impl Store for MemoryStore {
    fn append_ops(&self, _: &str, _: &str, _: u64, _: &[(u64, &Op)]) -> Result<(), StoreError> {
        Ok(())
    }

    fn save_workshop(&self, _: &str, _: &[u8]) -> Result<(), StoreError> {
        Ok(())
    }

    fn ready(&self) -> bool {
        true
    }
}
