//! Plenary's wire protocol and room document model, with no I/O.
//!
//! * [`message`]: the JSON frames exchanged over the WebSocket.
//! * [`doc`], [`op`], [`value`]: the CRDT-lite document (last writer wins per field, fractional
//!   ordering, tombstones) and the ops that change it.
//! * [`schema`]: every artefact type as a table entry; [`validate`] checks ops against it.
//! * [`text`]: the sequence CRDT behind mergeable text fields.
//! * [`fractional`]: position keys for ordered children.
//! * [`workshop`]: commands and the workshop view.
//! * [`templates`]: the ops that seed an exercise template into a room.
//! * [`estimate`]: planning-poker cards per scale and the statistics of a revealed round;
//!   value-scoring allocations.
//! * [`forecast`]: the Monte Carlo forecast (deterministic given a seed).

pub mod doc;
pub mod error;
pub mod estimate;
pub mod forecast;
pub mod fractional;
pub mod message;
pub mod op;
pub mod schema;
pub mod templates;
pub mod text;
pub mod validate;
pub mod value;
pub mod workshop;

pub use doc::{Doc, Field, Object};
pub use error::{close, ErrorCode};
pub use message::{
    decode_client, ClientMsg, Member, ResumePoint, Role, SealedEntry, ServerMsg, TimerEvent,
    PROTOCOL_VERSION,
};
pub use op::{Op, OpKind};
pub use text::{CharId, Text};
pub use validate::{validate, ValidationError};
pub use value::{Stamp, Value};
