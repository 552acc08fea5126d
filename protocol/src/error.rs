//! Error codes and WebSocket close codes: the stable, documented vocabulary of failures.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code. The wire form is the snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not valid JSON or lacks a required field.
    Malformed,
    /// The frame's `type` is not a known message type.
    UnknownMessage,
    /// A binary frame; Plenary speaks JSON text frames only.
    BinaryNotSupported,
    /// The hello asked for a protocol version this server does not speak.
    UnsupportedProtocol,
    /// A message other than hello arrived before hello.
    HelloRequired,
    /// A second hello on the same connection.
    AlreadyHello,
    /// The token is missing, malformed, badly signed, expired or revoked.
    Unauthorized,
    /// The role or room does not allow this action.
    Forbidden,
    /// An op, leave or presence for a room this connection has not joined.
    NotInRoom,
    /// The room does not exist in this workshop.
    UnknownRoom,
    /// The participant does not exist in this workshop.
    UnknownParticipant,
    /// Too many messages; slow down.
    RateLimited,
    /// The op is structurally invalid (ids, stamp, empty set).
    InvalidOp,
    /// The object type is not in the schema table.
    UnknownType,
    /// The field is not part of the object's type.
    UnknownField,
    /// The value has the wrong kind or is out of range.
    InvalidValue,
    /// A text value is longer than the field allows.
    TooLong,
    /// The parent does not exist or may not hold this type.
    InvalidParent,
    /// The position key is not a valid fractional index.
    InvalidPosition,
    /// The target object does not exist.
    UnknownObject,
    /// The target object was deleted, or one of its ancestors was.
    Deleted,
    /// Create of an id that exists or existed.
    AlreadyExists,
    /// The room holds the maximum number of objects.
    TooManyObjects,
    /// A per-member budget (dots to vote with) would be exceeded.
    OverBudget,
    /// The command's arguments are invalid.
    InvalidCommand,
    /// The command does not fit the workshop's current state.
    Conflict,
    /// The server cannot store the change right now; nothing was applied. Retry later.
    Unavailable,
    /// The server sent the op to its shared store but lost the answer and could not find it out
    /// in time: the op may or may not have been applied. Resend it with the same op id once the
    /// server can store again; the resend is acknowledged with the original seq if it was.
    OutcomeUnknown,
    /// No workshop or join code by that name (REST).
    NotFound,
}

impl ErrorCode {
    /// The wire name, for logs and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::UnknownMessage => "unknown_message",
            ErrorCode::BinaryNotSupported => "binary_not_supported",
            ErrorCode::UnsupportedProtocol => "unsupported_protocol",
            ErrorCode::HelloRequired => "hello_required",
            ErrorCode::AlreadyHello => "already_hello",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotInRoom => "not_in_room",
            ErrorCode::UnknownRoom => "unknown_room",
            ErrorCode::UnknownParticipant => "unknown_participant",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::InvalidOp => "invalid_op",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::InvalidValue => "invalid_value",
            ErrorCode::TooLong => "too_long",
            ErrorCode::InvalidParent => "invalid_parent",
            ErrorCode::InvalidPosition => "invalid_position",
            ErrorCode::UnknownObject => "unknown_object",
            ErrorCode::Deleted => "deleted",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::TooManyObjects => "too_many_objects",
            ErrorCode::OverBudget => "over_budget",
            ErrorCode::InvalidCommand => "invalid_command",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::OutcomeUnknown => "outcome_unknown",
            ErrorCode::NotFound => "not_found",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// WebSocket close codes the server uses. 1000-1015 are RFC 6455; 4000-4999 are Plenary's.
pub mod close {
    /// Normal closure (the client said goodbye).
    pub const NORMAL: u16 = 1000;
    /// A frame broke the WebSocket protocol (an unmasked frame, a reserved opcode, a control
    /// frame over 125 bytes, ...).
    pub const WS_PROTOCOL: u16 = 1002;
    /// A text message was not valid UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A frame exceeded the inbound size limit.
    pub const TOO_BIG: u16 = 1009;
    /// The server is shutting down or restarting: reconnect (with backoff) and resume.
    pub const RESTART: u16 = 1012;
    /// No valid hello within the hello deadline.
    pub const HELLO_TIMEOUT: u16 = 4001;
    /// The hello's token was rejected. Do not retry with the same token.
    pub const UNAUTHORIZED: u16 = 4002;
    /// The facilitator removed this participant. Do not reconnect.
    pub const REMOVED: u16 = 4003;
    /// The outbound queue overflowed because the client read too slowly: reconnect and resume.
    pub const SLOW_CONSUMER: u16 = 4004;
    /// The client kept flooding after rate-limit errors.
    pub const FLOOD: u16 = 4005;
    /// The protocol version in hello is not supported.
    pub const UNSUPPORTED_PROTOCOL: u16 = 4006;
    /// No frame from the client within the heartbeat timeout: reconnect and resume.
    pub const HEARTBEAT_TIMEOUT: u16 = 4007;
    /// The first message was not a valid hello (another message, a binary frame, bad JSON).
    pub const PROTOCOL_ERROR: u16 = 4008;
}
