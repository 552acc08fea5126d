//! Field values and Lamport stamps.

use serde::{Deserialize, Serialize};

/// A field value. JSON `null`, booleans, integers and strings; nothing else decodes.
///
/// The derived order (null < bool < int < text, then by content) only breaks ties between two
/// writes that carry the same stamp, which honest clients never produce, so that even then every
/// replica picks the same winner.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
}

/// A Lamport stamp: the writer's logical clock and its client id. Stamps are totally ordered
/// by clock, then by client id; the greater stamp wins a field (last writer wins).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    pub clock: u64,
    pub client: String,
}

impl Stamp {
    pub fn new(clock: u64, client: impl Into<String>) -> Self {
        Self {
            clock,
            client: client.into(),
        }
    }
}
