//! Validation: is an op allowed on this document? Separate from [`crate::Doc::apply`], which
//! accepts anything; the server validates before it orders an op, clients before they send.

use crate::doc::Doc;
use crate::error::ErrorCode;
use crate::estimate;
use crate::fractional;
use crate::op::{Op, OpKind};
use crate::schema::{
    self, FieldKind, TypeSchema, MAX_ID_CHARS, MAX_OBJECTS, MAX_POS_CHARS, MAX_ROOM_TEXT_HISTORY,
    MAX_TEXT_HISTORY, ROOT, ROOT_TYPE,
};
use crate::text::CharId;
use crate::value::{Stamp, Value};

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
            check_fields(doc, object, schema, fields, &op.stamp)
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
            check_fields(doc, object, schema, fields, &op.stamp)
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
        OpKind::Text {
            object,
            field,
            after,
            insert,
            delete,
        } => check_text(
            doc,
            object,
            field,
            after.as_deref(),
            insert,
            delete,
            &op.stamp,
        ),
        OpKind::Seal {
            object,
            field,
            value,
            withdraw,
        } => check_seal(doc, object, field, value.as_ref(), *withdraw, &op.stamp),
        OpKind::Reveal { object, values } => {
            let obj = live(doc, object)?;
            let sealed = schema::schema(&obj.ty).is_some_and(|s| {
                s.fields
                    .iter()
                    .any(|f| matches!(f.kind, FieldKind::Sealed(_)))
            });
            if !sealed {
                return err(
                    ErrorCode::InvalidOp,
                    format!("a {} has nothing sealed to reveal", obj.ty),
                );
            }
            if obj.revealed.is_some() {
                return err(
                    ErrorCode::Conflict,
                    format!("{object} was revealed already"),
                );
            }
            if !values.is_empty() {
                return err(
                    ErrorCode::InvalidOp,
                    "send reveal without values: the server fills them in",
                );
            }
            Ok(())
        }
    }
}

/// Carriage returns are refused in mergeable text: text boxes turn them into `\n`, so a text
/// holding one would never equal what the box shows.
fn check_no_cr(s: &str) -> Result<(), ValidationError> {
    if s.contains('\r') {
        return err(
            ErrorCode::InvalidValue,
            "mergeable text uses \\n for new lines, not \\r",
        );
    }
    Ok(())
}

/// Inserting `added` characters into a text with `field_total` characters ever written stays
/// within the field's and the room's history caps (deleted characters stay as anchors).
fn check_history(
    doc: &Doc,
    field_total: usize,
    added: usize,
    field: &str,
) -> Result<(), ValidationError> {
    if added == 0 {
        return Ok(());
    }
    if field_total + added > MAX_TEXT_HISTORY {
        return err(
            ErrorCode::TooLong,
            format!("{field} has had {MAX_TEXT_HISTORY} characters written, deleted ones included"),
        );
    }
    if doc.text_history() + added > MAX_ROOM_TEXT_HISTORY {
        return err(
            ErrorCode::TooLong,
            format!(
                "this room's text has had {MAX_ROOM_TEXT_HISTORY} characters written, deleted ones included"
            ),
        );
    }
    Ok(())
}

/// A seal: a sealed field of a live, unrevealed object, with a valid value or a withdraw.
fn check_seal(
    doc: &Doc,
    object: &str,
    field: &str,
    value: Option<&Value>,
    withdraw: bool,
    stamp: &Stamp,
) -> Result<(), ValidationError> {
    let obj = live(doc, object)?;
    let inner = match schema::field_kind(&obj.ty, field) {
        Some(FieldKind::Sealed(inner)) => *inner,
        Some(_) => {
            return err(
                ErrorCode::InvalidValue,
                format!("{field} is not a sealed field"),
            )
        }
        None => {
            return err(
                ErrorCode::UnknownField,
                format!("a {} has no field {field:?}", obj.ty),
            )
        }
    };
    if obj.revealed.is_some() {
        return err(
            ErrorCode::Conflict,
            format!("{object} was revealed already"),
        );
    }
    // The server's private copy follows arrival order, the document follows stamps: an older
    // seal (a resend from a stale tab) must not replace a newer entry in either.
    let current = obj.sealed.get(field).and_then(|m| m.get(&stamp.client));
    if current.is_some_and(|f| f.stamp >= *stamp) {
        return err(
            ErrorCode::Conflict,
            "a newer seal or withdraw of yours is already in; stamp above the document",
        );
    }
    match (value, withdraw) {
        (Some(Value::Null) | None, false) => err(
            ErrorCode::InvalidOp,
            "a seal carries a value, or withdraw: true",
        ),
        (Some(_), true) => err(
            ErrorCode::InvalidOp,
            "a seal carries a value or withdraws, not both",
        ),
        (None, true) => Ok(()),
        (Some(v), false) => {
            check_value(field, inner, v)?;
            check_sealed_value(doc, obj, field, inner, v)
        }
    }
}

/// The checks of a sealed value that depend on its object: a card must be on the round's
/// scale, an allocation must name live backlog items within the round's budget.
fn check_sealed_value(
    doc: &Doc,
    obj: &crate::doc::Object,
    field: &str,
    inner: FieldKind,
    value: &Value,
) -> Result<(), ValidationError> {
    let own = |name: &str| obj.fields.get(name).map(|f| &f.value);
    match (inner, value) {
        (FieldKind::Enum(_), Value::Text(card))
            if schema::field_kind(&obj.ty, "scale").is_some() =>
        {
            let scale = own("scale").and_then(Value::as_text);
            let cards = estimate::scale_cards(scale);
            if !cards.contains(&card.as_str()) {
                return err(
                    ErrorCode::InvalidValue,
                    format!(
                        "{field}: {card:?} is not a card of this round's scale ({})",
                        cards.join(" ")
                    ),
                );
            }
            Ok(())
        }
        (FieldKind::Allocation, Value::Text(text)) => {
            let pairs = estimate::parse_allocation(text)
                .map_err(|e| invalid(ErrorCode::InvalidValue, format!("{field}: {e}")))?;
            let budget = match own("budget") {
                Some(Value::Int(b)) => *b,
                _ => estimate::DEFAULT_BUDGET,
            };
            let mut spent: i64 = 0;
            for (id, points) in pairs {
                let item = doc.objects.get(&id).filter(|_| doc.is_visible(&id));
                if item.is_none_or(|o| o.ty != "backlog_item") {
                    return err(
                        ErrorCode::NotFound,
                        format!("{field}: {id} is not a backlog item of this room"),
                    );
                }
                spent = spent.saturating_add(points);
            }
            if spent > budget {
                return err(
                    ErrorCode::OverBudget,
                    format!("{field}: {spent} points placed; the budget is {budget}"),
                );
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn invalid(code: ErrorCode, message: impl Into<String>) -> ValidationError {
    ValidationError {
        code,
        message: message.into(),
    }
}

/// Most characters one text op may delete: a whole field.
pub const MAX_DELETES_PER_OP: usize = schema::MAX_TEXT_CHARS;

/// A text op: a known text field of a live object, a known anchor stamped below the op, fresh
/// ids, known deletes, and a result within the field's length.
fn check_text(
    doc: &Doc,
    object: &str,
    field: &str,
    after: Option<&str>,
    insert: &str,
    delete: &[String],
    stamp: &Stamp,
) -> Result<(), ValidationError> {
    let obj = live(doc, object)?;
    let max = match schema::field_kind(&obj.ty, field) {
        Some(FieldKind::Prose(max)) => max,
        Some(_) => {
            return err(
                ErrorCode::InvalidValue,
                format!("{field} is not a mergeable text field; use set"),
            )
        }
        None => {
            return err(
                ErrorCode::UnknownField,
                format!("a {} has no field {field:?}", obj.ty),
            )
        }
    };
    if insert.is_empty() && delete.is_empty() {
        return err(
            ErrorCode::InvalidOp,
            "a text op inserts or deletes something",
        );
    }
    if delete.len() > MAX_DELETES_PER_OP {
        return err(
            ErrorCode::InvalidOp,
            format!("at most {MAX_DELETES_PER_OP} deletes per op"),
        );
    }
    let empty = crate::text::Text::default();
    let text = obj.texts.get(field).unwrap_or(&empty);
    if !insert.is_empty() && text.has_run(stamp) {
        return err(
            ErrorCode::InvalidOp,
            "this stamp already inserted text here; stamp each op above the document clock",
        );
    }
    if let Some(after) = after {
        let Some(id) = CharId::parse(after) else {
            return err(
                ErrorCode::InvalidOp,
                format!("{after:?} is not a character id (<clock>.<index>.<client>)"),
            );
        };
        if text.position(&id).is_none() {
            return err(
                ErrorCode::InvalidOp,
                format!("no character {after} in {field}"),
            );
        }
        if (stamp.clock, stamp.client.as_str()) <= (id.clock, id.client.as_str()) {
            return err(
                ErrorCode::InvalidOp,
                "a text op must be stamped above the character it inserts after",
            );
        }
    }
    let mut ids = Vec::with_capacity(delete.len());
    for d in delete {
        let Some(id) = CharId::parse(d) else {
            return err(
                ErrorCode::InvalidOp,
                format!("{d:?} is not a character id (<clock>.<index>.<client>)"),
            );
        };
        ids.push(id);
    }
    let mut unique: Vec<&CharId> = ids.iter().collect();
    unique.sort();
    unique.dedup();
    if unique.len() != ids.len() {
        return err(
            ErrorCode::InvalidOp,
            "a character is listed twice in delete",
        );
    }
    let mut removed = 0;
    for (d, position) in delete.iter().zip(text.positions(&ids)) {
        match position {
            None => return err(ErrorCode::InvalidOp, format!("no character {d} in {field}")),
            Some(p) if text.is_live_at(p) => removed += 1,
            Some(_) => {}
        }
    }
    check_no_cr(insert)?;
    let added = insert.chars().count();
    check_history(doc, text.total_len(), added, field)?;
    let after_len = (text.live_len() + added).saturating_sub(removed);
    if added > 0 && after_len > max {
        return err(
            ErrorCode::TooLong,
            format!("{field} would be {after_len} characters; at most {max} allowed"),
        );
    }
    Ok(())
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
    doc: &Doc,
    object: &str,
    schema: &TypeSchema,
    fields: &std::collections::BTreeMap<String, Value>,
    stamp: &Stamp,
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
        if schema::FIXED_ONCE_SEALED.contains(&name.as_str()) {
            if let Some(obj) = doc.objects.get(object) {
                if obj.revealed.is_some() || obj.sealed.values().any(|m| !m.is_empty()) {
                    return err(
                        ErrorCode::Conflict,
                        format!("{name} is fixed once a member has voted"),
                    );
                }
            }
        }
        match (field.kind, value) {
            (_, Value::Null) => {}
            (FieldKind::Samples, Value::Text(s)) => {
                crate::forecast::parse_samples(s)
                    .map_err(|e| invalid(ErrorCode::InvalidValue, format!("{name}: {e}")))?;
            }
            (FieldKind::Text(max) | FieldKind::Prose(max), Value::Text(s)) => {
                let chars = s.chars().count();
                if chars > max {
                    return err(
                        ErrorCode::TooLong,
                        format!("{name} is {chars} characters; at most {max} allowed"),
                    );
                }
                if let FieldKind::Prose(_) = field.kind {
                    check_no_cr(s)?;
                    let total = doc
                        .objects
                        .get(object)
                        .and_then(|o| o.texts.get(name))
                        .map_or(0, crate::text::Text::total_len);
                    check_history(doc, total, chars, name)?;
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
            (FieldKind::Tally { max, budget }, Value::Int(i)) => {
                if *i < 0 || *i > max {
                    return err(
                        ErrorCode::InvalidValue,
                        format!("{name}: your entry must be between 0 and {max}"),
                    );
                }
                let spent = spent_elsewhere(doc, object, schema.name, name, &stamp.client);
                if spent.saturating_add(*i) > budget {
                    return err(
                        ErrorCode::OverBudget,
                        format!(
                            "{name}: you have {budget} in all and {} left to place here",
                            (budget - spent).max(0)
                        ),
                    );
                }
            }
            (FieldKind::Bool, Value::Bool(_)) => {}
            (FieldKind::Sealed(_), _) => {
                return err(
                    ErrorCode::InvalidOp,
                    format!("{name} is sealed: send a seal op, not a set"),
                );
            }
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

/// What `member` has placed in tally field `name` over the visible objects of type `ty`,
/// except `object`: what their budget already holds. Clients use it to offer what is left.
pub fn spent_elsewhere(doc: &Doc, object: &str, ty: &str, name: &str, member: &str) -> i64 {
    doc.objects
        .iter()
        .filter(|(id, o)| o.ty == ty && id.as_str() != object && doc.is_visible(id))
        .filter_map(|(_, o)| o.tallies.get(name)?.get(member))
        .filter_map(|f| match f.value {
            Value::Int(n) => Some(n),
            _ => None,
        })
        .fold(0i64, |a, n| a.saturating_add(n))
}

fn describe(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text(_) | FieldKind::Prose(_) => "a string",
        FieldKind::Tally { .. } => "an integer (your own entry)",
        FieldKind::Sealed(_) => "a seal op",
        FieldKind::Int(_, _) => "an integer",
        FieldKind::Bool => "true or false",
        FieldKind::Enum(_) => "one of a fixed list of strings",
        FieldKind::Allocation => "item=points pairs separated by commas",
        FieldKind::Samples => "whole numbers separated by commas",
    }
}

/// Checks one value against a plain field kind (text, integer, boolean, enum).
fn check_value(name: &str, kind: FieldKind, value: &Value) -> Result<(), ValidationError> {
    match (kind, value) {
        (FieldKind::Text(max), Value::Text(s)) => {
            let chars = s.chars().count();
            if chars > max {
                return err(
                    ErrorCode::TooLong,
                    format!("{name} is {chars} characters; at most {max} allowed"),
                );
            }
            Ok(())
        }
        (FieldKind::Int(min, max), Value::Int(i)) if *i < min || *i > max => err(
            ErrorCode::InvalidValue,
            format!("{name} must be between {min} and {max}"),
        ),
        (FieldKind::Int(..), Value::Int(_)) | (FieldKind::Bool, Value::Bool(_)) => Ok(()),
        (FieldKind::Enum(allowed), Value::Text(s)) if !allowed.contains(&s.as_str()) => err(
            ErrorCode::InvalidValue,
            format!("{name} must be one of {}", allowed.join(", ")),
        ),
        (FieldKind::Enum(_), Value::Text(_)) => Ok(()),
        (FieldKind::Allocation, Value::Text(s)) => estimate::parse_allocation(s)
            .map(|_| ())
            .map_err(|e| invalid(ErrorCode::InvalidValue, format!("{name}: {e}"))),
        (kind, _) => err(
            ErrorCode::InvalidValue,
            format!("{name} expects {}", describe(kind)),
        ),
    }
}
