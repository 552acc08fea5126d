//! Validation: is an op allowed on this document? Separate from [`crate::Doc::apply`], which
//! accepts anything; the server validates before it orders an op, clients before they send.

use crate::doc::Doc;
use crate::error::ErrorCode;
use crate::fractional;
use crate::op::{Op, OpKind};
use crate::schema::{
    self, FieldKind, TypeSchema, MAX_ID_CHARS, MAX_OBJECTS, MAX_POS_CHARS, ROOT, ROOT_TYPE,
};
use crate::value::Value;

/// How far beyond the document clock a stamp may jump. Bounds the damage of a client that
/// inflates its clock to win every future write.
pub const MAX_CLOCK_JUMP: u64 = 1 << 20;
/// Largest clock accepted at all: integers above 2^53 do not survive a JavaScript client.
pub const MAX_CLOCK: u64 = (1 << 53) - 1;
/// Maximum number of fields one create or set may carry.
pub const MAX_FIELDS_PER_OP: usize = 32;

/// Why an op was refused: a stable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ValidationError {
    pub code: ErrorCode,
    pub message: String,
}

fn err(code: ErrorCode, message: impl Into<String>) -> Result<(), ValidationError> {
    Err(ValidationError {
        code,
        message: message.into(),
    })
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_CHARS
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b':' | b'.'))
}

/// Checks `op` against the schema table and the current document.
pub fn validate(doc: &Doc, op: &Op) -> Result<(), ValidationError> {
    if !is_id(&op.id) {
        return err(
            ErrorCode::InvalidOp,
            "op id must be 1-64 characters of A-Z a-z 0-9 - _ : .",
        );
    }
    if op.stamp.clock == 0 || op.stamp.clock > MAX_CLOCK {
        return err(
            ErrorCode::InvalidOp,
            "stamp clock must be between 1 and 2^53-1",
        );
    }
    if op.stamp.clock > doc.clock.saturating_add(MAX_CLOCK_JUMP) {
        return err(
            ErrorCode::InvalidOp,
            "stamp clock jumps too far ahead of the document",
        );
    }
    match &op.kind {
        OpKind::Create {
            object,
            ty,
            parent,
            pos,
            fields,
        } => {
            if !is_id(object) || object == ROOT {
                return err(
                    ErrorCode::InvalidOp,
                    "object id must be 1-64 characters of A-Z a-z 0-9 - _ : . and not 'root'",
                );
            }
            if doc.objects.contains_key(object) || doc.tombstones.contains(object) {
                return err(
                    ErrorCode::AlreadyExists,
                    format!("object {object} already exists or existed"),
                );
            }
            let Some(schema) = schema::schema(ty) else {
                return err(
                    ErrorCode::UnknownType,
                    format!("unknown object type {ty:?}"),
                );
            };
            if doc.live_count() >= MAX_OBJECTS {
                return err(
                    ErrorCode::TooManyObjects,
                    format!("a room holds at most {MAX_OBJECTS} objects"),
                );
            }
            check_parent(doc, schema, parent)?;
            check_pos(pos)?;
            check_fields(schema, fields)
        }
        OpKind::Set { object, fields } => {
            let obj = live(doc, object)?;
            if fields.is_empty() {
                return err(ErrorCode::InvalidOp, "set needs at least one field");
            }
            // The object exists, so its type is one validation accepted.
            let Some(schema) = schema::schema(&obj.ty) else {
                return err(
                    ErrorCode::UnknownType,
                    format!("unknown object type {:?}", obj.ty),
                );
            };
            check_fields(schema, fields)
        }
        OpKind::Delete { object } => live(doc, object).map(|_| ()),
        OpKind::Move {
            object,
            parent,
            pos,
        } => {
            let obj = live(doc, object)?;
            let Some(schema) = schema::schema(&obj.ty) else {
                return err(
                    ErrorCode::UnknownType,
                    format!("unknown object type {:?}", obj.ty),
                );
            };
            check_parent(doc, schema, parent)?;
            check_pos(pos)
        }
    }
}

fn live<'d>(doc: &'d Doc, object: &str) -> Result<&'d crate::doc::Object, ValidationError> {
    if doc.tombstones.contains(object) {
        return Err(ValidationError {
            code: ErrorCode::Deleted,
            message: format!("object {object} was deleted"),
        });
    }
    let obj = doc.objects.get(object).ok_or_else(|| ValidationError {
        code: ErrorCode::UnknownObject,
        message: format!("no object {object} in this room"),
    })?;
    // Deleting an object hides its descendants; editing them would change nothing visible.
    if !doc.is_visible(object) {
        return Err(ValidationError {
            code: ErrorCode::Deleted,
            message: format!("a parent of {object} was deleted"),
        });
    }
    Ok(obj)
}

fn check_parent(doc: &Doc, schema: &TypeSchema, parent: &str) -> Result<(), ValidationError> {
    let parent_type = if parent == ROOT {
        ROOT_TYPE
    } else {
        match live(doc, parent) {
            Ok(p) => p.ty.as_str(),
            Err(e) => {
                return err(ErrorCode::InvalidParent, format!("parent: {}", e.message));
            }
        }
    };
    if !schema.parents.contains(&parent_type) {
        return err(
            ErrorCode::InvalidParent,
            format!("a {} cannot be placed under a {parent_type}", schema.name),
        );
    }
    Ok(())
}

fn check_pos(pos: &str) -> Result<(), ValidationError> {
    if pos.len() > MAX_POS_CHARS {
        return err(
            ErrorCode::InvalidPosition,
            format!("position key longer than {MAX_POS_CHARS} characters"),
        );
    }
    fractional::validate(pos).or_else(|e| err(ErrorCode::InvalidPosition, e.to_string()))
}

fn check_fields(
    schema: &TypeSchema,
    fields: &std::collections::BTreeMap<String, Value>,
) -> Result<(), ValidationError> {
    if fields.len() > MAX_FIELDS_PER_OP {
        return err(
            ErrorCode::InvalidOp,
            format!("at most {MAX_FIELDS_PER_OP} fields per op"),
        );
    }
    for (name, value) in fields {
        let Some(field) = schema.field(name) else {
            return err(
                ErrorCode::UnknownField,
                format!("a {} has no field {name:?}", schema.name),
            );
        };
        match (field.kind, value) {
            (_, Value::Null) => {}
            (FieldKind::Text(max), Value::Text(s)) => {
                let chars = s.chars().count();
                if chars > max {
                    return err(
                        ErrorCode::TooLong,
                        format!("{name} is {chars} characters; at most {max} allowed"),
                    );
                }
            }
            (FieldKind::Int(min, max), Value::Int(i)) => {
                if *i < min || *i > max {
                    return err(
                        ErrorCode::InvalidValue,
                        format!("{name} must be between {min} and {max}"),
                    );
                }
            }
            (FieldKind::Bool, Value::Bool(_)) => {}
            (FieldKind::Enum(allowed), Value::Text(s)) => {
                if !allowed.contains(&s.as_str()) {
                    return err(
                        ErrorCode::InvalidValue,
                        format!("{name} must be one of {}", allowed.join(", ")),
                    );
                }
            }
            (kind, _) => {
                return err(
                    ErrorCode::InvalidValue,
                    format!("{name} expects {}", describe(kind)),
                );
            }
        }
    }
    Ok(())
}

fn describe(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text(_) => "a string",
        FieldKind::Int(_, _) => "an integer",
        FieldKind::Bool => "true or false",
        FieldKind::Enum(_) => "one of a fixed list of strings",
    }
}
