//! Wire messages: JSON text frames, one message per frame, tagged by `type`.
//! Unknown fields are ignored; an unknown `type` is an `unknown_message` error.

use serde::{Deserialize, Serialize};

use crate::doc::Doc;
use crate::error::ErrorCode;
use crate::op::Op;
use crate::workshop::{Command, WorkshopPatch, WorkshopView};

/// The protocol version this crate speaks. A hello with another version is refused. Version 2
/// (document model v2): mergeable text, tallies, sealed values; a version 1 client would treat
/// their ops as unknown and overwrite merged text with whole values, so it is refused and reloads.
/// Version 3: the workshop view is cut per reader and, after the welcome, sent as patches
/// (`workshop_patch`); a version 2 client would wait for whole views that never come.
pub const PROTOCOL_VERSION: u32 = 3;

/// Where a client left off in one room: resume from here after a reconnect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    pub room: String,
    pub epoch: u64,
    pub seq: u64,
}

/// Client to server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// First message on every connection.
    Hello {
        protocol: u32,
        token: String,
        /// Rooms to rejoin, with the last epoch and seq the client has.
        #[serde(default)]
        resume: Vec<ResumePoint>,
    },
    /// Subscribe to a room. With `epoch` and `seq`, the server sends only what was missed.
    Join {
        room: String,
        #[serde(default)]
        epoch: Option<u64>,
        #[serde(default)]
        seq: Option<u64>,
    },
    /// Unsubscribe from a room.
    Leave { room: String },
    /// An edit to a room's document.
    Op { room: String, op: Op },
    /// Ephemeral presence state in a room (what the member is looking at or editing).
    Presence {
        room: String,
        #[serde(default)]
        focus: Option<String>,
    },
    /// A workshop command (facilitator controls, raise hand, choose room).
    Command {
        #[serde(default)]
        req: Option<String>,
        command: Command,
    },
    /// Application-level ping; the server answers with pong and its clock.
    Ping {
        #[serde(default)]
        t: Option<u64>,
    },
}

/// Who a connected member is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub participant: String,
    pub name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focus: Option<String>,
}

/// A participant's role in a workshop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Facilitator,
    Attendee,
    Observer,
}

/// Timer events pushed to every connection of a workshop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerEvent {
    Warning,
    Expired,
}

/// One of a member's own sealed values, as the server tells only that member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedEntry {
    pub object: String,
    pub field: String,
    pub value: crate::value::Value,
}

/// Server to client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The answer to a good hello.
    Welcome {
        protocol: u32,
        /// Unique per connection, for logs.
        session: String,
        participant: Member,
        /// The server clock in Unix milliseconds, to compute the client's clock offset.
        server_time: u64,
        /// The client should send something at least this often.
        heartbeat_ms: u64,
        workshop: WorkshopView,
    },
    /// A room's whole document at `seq`. Replaces whatever the client had for the room.
    Snapshot {
        room: String,
        epoch: u64,
        seq: u64,
        doc: Doc,
    },
    /// An op another member made, in room order.
    Op { room: String, seq: u64, op: Op },
    /// The sender's op was committed at `seq`.
    Ack {
        room: String,
        op_id: String,
        seq: u64,
    },
    /// The sender's op was refused; nothing changed.
    Reject {
        room: String,
        op_id: String,
        code: ErrorCode,
        message: String,
    },
    /// Your own sealed values in a room, all of them (sent to your connections only: after a
    /// join, and after a seal of yours is committed). Nobody else receives these before the
    /// reveal.
    Sealed {
        room: String,
        entries: Vec<SealedEntry>,
    },
    /// The members connected to a room, after a change.
    Presence {
        room: String,
        members: Vec<Member>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        joined: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        left: Option<String>,
    },
    /// The server unsubscribed this connection from a room (for example the participant was
    /// moved to another team, or the stage was cleared).
    Left { room: String, reason: String },
    /// What changed in the workshop view after a change (the whole view comes in `welcome`).
    WorkshopPatch { patch: WorkshopPatch },
    /// A timer reached its warning point or expired.
    Timer {
        timer: u64,
        event: TimerEvent,
        remaining_ms: u64,
    },
    /// A command succeeded.
    Done {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<String>,
    },
    /// A message or command was refused; nothing changed.
    Error {
        code: ErrorCode,
        message: String,
        /// The `req` of the refused command, if it had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<String>,
        /// The room of a refused join, leave or presence.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        t: Option<u64>,
        server_time: u64,
    },
    /// The server is going away: reconnect after `retry_ms` and resume.
    Reconnect { reason: String, retry_ms: u64 },
}

impl ServerMsg {
    /// The JSON text of this message. Serialization of these types cannot fail.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }

    /// The JSON text of `ServerMsg::Op { room, seq, op }` from the op's own JSON text, so that
    /// a server that has already encoded the op (to store it) does not encode it again.
    /// `op_json` must be the output of `serde_json::to_string(&op)`.
    pub fn op_frame(room: &str, seq: u64, op_json: &str) -> String {
        let room = serde_json::to_string(room).expect("strings always serialize");
        let mut out = String::with_capacity(40 + room.len() + op_json.len());
        out.push_str(r#"{"type":"op","room":"#);
        out.push_str(&room);
        out.push_str(r#","seq":"#);
        out.push_str(&seq.to_string());
        out.push_str(r#","op":"#);
        out.push_str(op_json);
        out.push('}');
        out
    }

    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerMsg::Error {
            code,
            message: message.into(),
            req: None,
            room: None,
        }
    }
}

/// Why a text frame could not be decoded into a [`ClientMsg`], with what could be read of it,
/// so that a malformed op can still be rejected by its id and a malformed command by its `req`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub code: ErrorCode,
    pub message: String,
    /// `(room, op id)` of a malformed `op` message, if both were readable.
    pub op: Option<(String, String)>,
    /// `req` of a malformed `command` message, if readable.
    pub req: Option<String>,
}

/// Decodes a client frame, telling an unknown `type` apart from malformed JSON.
pub fn decode_client(text: &str) -> Result<ClientMsg, DecodeError> {
    const KNOWN: &[&str] = &[
        "hello", "join", "leave", "op", "presence", "command", "ping",
    ];
    if let Some(msg) = fast::decode_op(text) {
        return Ok(msg);
    }
    let e = match serde_json::from_str::<ClientMsg>(text) {
        Ok(msg) => return Ok(msg),
        Err(e) => e,
    };
    let value = serde_json::from_str::<serde_json::Value>(text).ok();
    let get = |path: &[&str]| -> Option<String> {
        let mut v = value.as_ref()?;
        for key in path {
            v = v.get(key)?;
        }
        v.as_str().map(str::to_owned)
    };
    match get(&["type"]) {
        Some(t) if !KNOWN.contains(&t.as_str()) => Err(DecodeError {
            code: ErrorCode::UnknownMessage,
            message: format!("unknown message type {t:?}"),
            op: None,
            req: None,
        }),
        ty => {
            let is = |t: &str| ty.as_deref() == Some(t);
            Err(DecodeError {
                code: ErrorCode::Malformed,
                message: e.to_string(),
                op: if is("op") {
                    get(&["room"]).zip(get(&["op", "id"]))
                } else {
                    None
                },
                req: if is("command") { get(&["req"]) } else { None },
            })
        }
    }
}

/// A faster decoding of well-formed `op` messages, the bulk of the traffic. serde's derived
/// decoding of internally tagged enums (`type`, `action`) and of a flattened field buffers the
/// whole message into an intermediate tree first, which was most of the cost of a decode. This
/// path reads the same JSON into plain structs and builds the same [`ClientMsg`]; whenever it
/// cannot (another message type, a missing or mistyped field, anything unusual) it gives up and
/// the derived decoding decides, and words any error.
mod fast {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer};
    use serde_json::value::RawValue;

    use super::ClientMsg;
    use crate::op::{Op, OpKind};
    use crate::value::{Stamp, Value};

    /// Tags are read as plain strings (an escaped one fails to borrow and falls back), and both
    /// levels must be JSON objects: serde would also fill these structs from an array, and a
    /// unit enum from `{"op": null}`, which the derived decoding refuses.
    #[derive(Deserialize)]
    struct OpMsg<'a> {
        #[serde(rename = "type")]
        ty: &'a str,
        room: String,
        #[serde(borrow)]
        op: &'a RawValue,
    }

    /// Every field any action has; presence is checked per action.
    #[derive(Deserialize)]
    struct RawOp<'a> {
        id: String,
        stamp: Stamp,
        action: &'a str,
        object: String,
        #[serde(default, rename = "type", deserialize_with = "present")]
        ty: Option<String>,
        #[serde(default, deserialize_with = "present")]
        parent: Option<String>,
        #[serde(default, deserialize_with = "present")]
        pos: Option<String>,
        #[serde(default, deserialize_with = "present")]
        fields: Option<BTreeMap<String, Value>>,
    }

    /// `Some` for a present field, whatever its value (a JSON `null` is decoded as `T`, and so
    /// refused where `T` refuses it, as the derived decoding does); `None` only when absent.
    fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        T::deserialize(d).map(Some)
    }

    /// Whether JSON text is an object (serde_json skips these four whitespace characters).
    fn is_object(text: &str) -> bool {
        text.trim_start_matches([' ', '\t', '\n', '\r'])
            .starts_with('{')
    }

    pub(super) fn decode_op(text: &str) -> Option<ClientMsg> {
        if !is_object(text) {
            return None;
        }
        let msg: OpMsg = serde_json::from_str(text).ok()?;
        if msg.ty != "op" || !is_object(msg.op.get()) {
            return None;
        }
        let raw: RawOp = serde_json::from_str(msg.op.get()).ok()?;
        let object = raw.object;
        let kind = match raw.action {
            "create" => OpKind::Create {
                object,
                ty: raw.ty?,
                parent: raw.parent?,
                pos: raw.pos?,
                fields: raw.fields.unwrap_or_default(),
            },
            "set" => OpKind::Set {
                object,
                fields: raw.fields?,
            },
            "delete" => OpKind::Delete { object },
            "move" => OpKind::Move {
                object,
                parent: raw.parent?,
                pos: raw.pos?,
            },
            _ => return None,
        };
        Some(ClientMsg::Op {
            room: msg.room,
            op: Op {
                id: raw.id,
                stamp: raw.stamp,
                kind,
            },
        })
    }
}
