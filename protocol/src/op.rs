//! Operations on a room document.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::value::{Stamp, Value};

/// One edit. `id` is chosen by the client and unique per room (the server acknowledges a
/// resent op id once, without applying it again); `stamp` orders concurrent writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    pub id: String,
    pub stamp: Stamp,
    #[serde(flatten)]
    pub kind: OpKind,
}

/// What an op does, tagged by `action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum OpKind {
    /// Creates `object` of type `ty` under `parent` at position `pos` with initial fields.
    Create {
        object: String,
        #[serde(rename = "type")]
        ty: String,
        parent: String,
        pos: String,
        #[serde(default)]
        fields: BTreeMap<String, Value>,
    },
    /// Sets one or more fields; `null` clears a field.
    Set {
        object: String,
        fields: BTreeMap<String, Value>,
    },
    /// Deletes `object`. The tombstone is permanent: a concurrent or later set does not undo it.
    Delete { object: String },
    /// Moves `object` under `parent` at position `pos` (reordering is a move to the same parent).
    Move {
        object: String,
        parent: String,
        pos: String,
    },
    /// Edits the mergeable text `field` of `object` (see [`crate::text`]): deletes the
    /// characters `delete` and inserts `insert` after the character `after` (absent: at the
    /// start). The inserted characters get the ids `<clock>.<i>.<client>` from the op's stamp.
    Text {
        object: String,
        field: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        insert: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        delete: Vec<String>,
    },
    /// Puts the sender's entry in sealed `field` of `object` (see [`crate::doc`]): `value`
    /// seals a value, `withdraw` takes the entry back. The server keeps the value to itself and
    /// orders the op without it, so every member (and every store) sees only *who* sealed.
    Seal {
        object: String,
        field: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Value>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        withdraw: bool,
    },
    /// Reveals every sealed field of `object` at once. Sent without `values`; the server fills
    /// them in (field -> member -> value) from its private store when it orders the op.
    Reveal {
        object: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        values: BTreeMap<String, BTreeMap<String, Value>>,
    },
}

impl OpKind {
    /// The op as every member may see it: a seal without its value. Other ops are unchanged.
    pub fn public(&self) -> OpKind {
        match self {
            OpKind::Seal {
                object,
                field,
                withdraw,
                ..
            } => OpKind::Seal {
                object: object.clone(),
                field: field.clone(),
                value: None,
                withdraw: *withdraw,
            },
            other => other.clone(),
        }
    }

    /// The object this op targets.
    pub fn object(&self) -> &str {
        match self {
            OpKind::Create { object, .. }
            | OpKind::Set { object, .. }
            | OpKind::Delete { object }
            | OpKind::Move { object, .. }
            | OpKind::Text { object, .. }
            | OpKind::Seal { object, .. }
            | OpKind::Reveal { object, .. } => object,
        }
    }
}
