//! The CRDT-lite room document and its merge rules.
//!
//! * Last writer wins per (object, field), by [`Stamp`]; equal stamps fall back to comparing
//!   values, so the outcome never depends on arrival order.
//! * Mergeable text fields ([`FieldKind::Prose`]) are sequence CRDTs ([`crate::text`]); tally
//!   fields ([`FieldKind::Tally`]) hold one last-writer-wins entry per member. For both, the
//!   object's `fields` entry holds the derived value (the live text, the total) with the
//!   greatest stamp that touched it, so readers that only want values read `fields` alone.
//! * An object's type and its placement (parent + position) are registers with the same rule.
//! * Delete leaves a tombstone; ops on a tombstoned or unknown object change nothing.
//! * Siblings are ordered by fractional position key, ties broken by object id.
//!
//! [`Doc::apply`] is total: it never panics and never fails for any decoded op. Whether an op
//! is *allowed* is a separate question answered by [`crate::validate`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::op::{Op, OpKind};
use crate::schema::{field_kind, FieldKind, ROOT};
use crate::text::{CharId, Text};
use crate::value::{Stamp, Value};

/// The member key under which a vote count stored by version 1 (a plain integer) is kept.
pub const LEGACY_MEMBER: &str = "~v1";

/// A field value with the stamp of the write that set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub value: Value,
    pub stamp: Stamp,
}

/// A live object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Object {
    #[serde(rename = "type")]
    pub ty: String,
    /// Stamp of the create that set `ty`.
    pub created: Stamp,
    pub parent: String,
    pub pos: String,
    /// Stamp of the create or move that set `parent` and `pos`.
    pub placed: Stamp,
    /// Every field's value. For text and tally fields, the derived value (see the module doc).
    pub fields: BTreeMap<String, Field>,
    /// The sequence state of each mergeable text field that was ever written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub texts: BTreeMap<String, Text>,
    /// The per-member entries of each tally field: field -> member -> entry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tallies: BTreeMap<String, BTreeMap<String, Field>>,
    /// The entries of each sealed field: field -> member -> entry. Before the reveal an entry's
    /// value is `true` (sealed) or `null` (withdrawn): never the sealed value, which only the
    /// server holds. The reveal op writes the values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sealed: BTreeMap<String, BTreeMap<String, Field>>,
    /// The stamp of the reveal op, once the object's sealed fields were revealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revealed: Option<Stamp>,
}

impl Object {
    /// The current value of `name`, treating a cleared field as absent.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .get(name)
            .map(|f| &f.value)
            .filter(|v| **v != Value::Null)
    }
}

/// A room's document. Its serde form is canonical: equal documents serialize to equal bytes.
/// Reading converts a version 1 document (plain strings in text fields, a plain integer in
/// tally fields) as described in [`Doc::upgrade`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "DocForm")]
pub struct Doc {
    /// The greatest stamp clock seen; a writer's next stamp must be above it.
    pub clock: u64,
    pub objects: BTreeMap<String, Object>,
    /// Ids of deleted objects. Kept so that a late create or set of them stays a no-op.
    pub tombstones: BTreeSet<String>,
}

/// The version of the document model, written as `model` in every serialized document.
/// Version 1 documents (written before text and tally fields) have no `model`.
pub const MODEL_VERSION: u32 = 2;

/// The serde form of [`Doc`] as read, before [`Doc::upgrade`].
#[derive(Deserialize)]
struct DocForm {
    clock: u64,
    #[serde(default)]
    model: Option<u32>,
    objects: BTreeMap<String, Object>,
    tombstones: BTreeSet<String>,
}

impl From<DocForm> for Doc {
    fn from(form: DocForm) -> Doc {
        let mut doc = Doc {
            clock: form.clock,
            objects: form.objects,
            tombstones: form.tombstones,
        };
        if form.model.is_none() {
            doc.upgrade();
        }
        doc
    }
}

impl Serialize for Doc {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Doc", 4)?;
        s.serialize_field("clock", &self.clock)?;
        s.serialize_field("model", &MODEL_VERSION)?;
        s.serialize_field("objects", &self.objects)?;
        s.serialize_field("tombstones", &self.tombstones)?;
        s.end()
    }
}

/// A winner check for last-writer-wins registers: does `(new, new_v)` beat `(old, old_v)`?
fn wins<T: Ord>(new: &Stamp, new_v: &T, old: &Stamp, old_v: &T) -> bool {
    (new, new_v) > (old, old_v)
}

impl Doc {
    pub fn new() -> Self {
        Self::default()
    }

    /// Converts fields written by version 1 of the model: a text field holding a plain string
    /// becomes a text whose content was written by one replace at the field's stamp (exactly
    /// what that write means in version 2), and a tally field holding a plain count keeps it
    /// as the entry of [`LEGACY_MEMBER`]. Idempotent; a version 2 document is left as it is.
    pub fn upgrade(&mut self) {
        for obj in self.objects.values_mut() {
            let names: Vec<String> = obj.fields.keys().cloned().collect();
            for name in names {
                let field = obj.fields[&name].clone();
                match field_kind(&obj.ty, &name) {
                    Some(FieldKind::Prose(_)) if !obj.texts.contains_key(&name) => {
                        let mut text = Text::default();
                        text.replace(&field.stamp, field.value.as_text());
                        obj.texts.insert(name.clone(), text);
                        refresh_text(obj, &name, &field.stamp);
                    }
                    Some(FieldKind::Tally { .. }) if !obj.tallies.contains_key(&name) => {
                        let mut entries = BTreeMap::new();
                        if matches!(field.value, Value::Int(n) if n != 0) {
                            entries.insert(LEGACY_MEMBER.to_owned(), field.clone());
                        }
                        obj.tallies.insert(name.clone(), entries);
                        refresh_tally(obj, &name, &field.stamp);
                    }
                    _ => {}
                }
            }
        }
    }

    /// Applies `op` and reports whether an object changed. Total and idempotent. The document
    /// clock advances to the op's stamp even when nothing else changes, so that every replica's
    /// clock is the maximum over the same set of ops.
    pub fn apply(&mut self, op: &Op) -> bool {
        self.clock = self.clock.max(op.stamp.clock);
        let stamp = &op.stamp;
        match &op.kind {
            OpKind::Create {
                object,
                ty,
                parent,
                pos,
                fields,
            } => {
                if self.tombstones.contains(object) {
                    return false;
                }
                let mut changed = false;
                let obj = self.objects.entry(object.clone()).or_insert_with(|| {
                    changed = true;
                    Object {
                        ty: ty.clone(),
                        created: stamp.clone(),
                        parent: parent.clone(),
                        pos: pos.clone(),
                        placed: stamp.clone(),
                        fields: BTreeMap::new(),
                        texts: BTreeMap::new(),
                        tallies: BTreeMap::new(),
                        sealed: BTreeMap::new(),
                        revealed: None,
                    }
                });
                if wins(stamp, ty, &obj.created, &obj.ty) {
                    obj.ty = ty.clone();
                    obj.created = stamp.clone();
                    changed = true;
                }
                if wins(stamp, &(parent, pos), &obj.placed, &(&obj.parent, &obj.pos)) {
                    obj.parent = parent.clone();
                    obj.pos = pos.clone();
                    obj.placed = stamp.clone();
                    changed = true;
                }
                set_fields(obj, stamp, fields) || changed
            }
            OpKind::Set { object, fields } => match self.objects.get_mut(object) {
                Some(obj) => set_fields(obj, stamp, fields),
                None => false,
            },
            OpKind::Delete { object } => {
                if self.objects.remove(object).is_some() {
                    self.tombstones.insert(object.clone());
                    true
                } else {
                    false
                }
            }
            OpKind::Move {
                object,
                parent,
                pos,
            } => match self.objects.get_mut(object) {
                Some(obj) if wins(stamp, &(parent, pos), &obj.placed, &(&obj.parent, &obj.pos)) => {
                    obj.parent = parent.clone();
                    obj.pos = pos.clone();
                    obj.placed = stamp.clone();
                    true
                }
                _ => false,
            },
            OpKind::Text {
                object,
                field,
                after,
                insert,
                delete,
            } => {
                let Some(obj) = self.objects.get_mut(object) else {
                    return false;
                };
                if !matches!(field_kind(&obj.ty, field), Some(FieldKind::Prose(_))) {
                    return false;
                }
                let after = match after.as_deref().map(CharId::parse) {
                    Some(None) => return false,
                    Some(Some(id)) => Some(id),
                    None => None,
                };
                let delete: Vec<CharId> = delete.iter().filter_map(|d| CharId::parse(d)).collect();
                let text = obj.texts.entry(field.clone()).or_default();
                let mut changed = text.delete(&delete);
                changed |= text.insert(stamp, after.as_ref(), insert);
                refresh_text(obj, field, stamp) || changed
            }
            OpKind::Seal {
                object,
                field,
                withdraw,
                ..
            } => {
                // The value, if this replica has it (its own unacknowledged op), is not stored:
                // every replica's document holds the same public entry.
                let Some(obj) = self.objects.get_mut(object) else {
                    return false;
                };
                if obj.revealed.is_some()
                    || !matches!(field_kind(&obj.ty, field), Some(FieldKind::Sealed(_)))
                {
                    return false;
                }
                let entry = if *withdraw {
                    Value::Null
                } else {
                    Value::Bool(true)
                };
                let entries = obj.sealed.entry(field.clone()).or_default();
                set_register(entries, &stamp.client, stamp, &entry)
            }
            // The entries of members who withdrew stay `null`; values for them (a private copy
            // that outlived a withdraw) are not shown.
            OpKind::Reveal { object, values } => {
                let Some(obj) = self.objects.get_mut(object) else {
                    return false;
                };
                if obj.revealed.is_some() {
                    return false;
                }
                obj.revealed = Some(stamp.clone());
                for (field, members) in values {
                    if !matches!(field_kind(&obj.ty, field), Some(FieldKind::Sealed(_))) {
                        continue;
                    }
                    // Only members whose entry says "sealed" have a value to show.
                    let Some(entries) = obj.sealed.get_mut(field) else {
                        continue;
                    };
                    for (member, value) in members {
                        if let Some(f) = entries.get_mut(member) {
                            if f.value == Value::Bool(true) {
                                f.value = value.clone();
                                f.stamp = stamp.clone();
                            }
                        }
                    }
                }
                true
            }
        }
    }

    /// Applies an op written by version 1 of the model (to replay a stored log written before
    /// the upgrade): there, a tally field's value was the total, so it goes to the
    /// [`LEGACY_MEMBER`] entry instead of the sender's. Everything else means the same.
    pub fn apply_v1(&mut self, op: &Op) -> bool {
        let ty = match &op.kind {
            OpKind::Create { ty, .. } => Some(ty.clone()),
            OpKind::Set { object, .. } => self.objects.get(object).map(|o| o.ty.clone()),
            _ => None,
        };
        let is_tally = |name: &str| {
            ty.as_deref()
                .is_some_and(|t| matches!(field_kind(t, name), Some(FieldKind::Tally { .. })))
        };
        let mut own = op.clone();
        let mut legacy = BTreeMap::new();
        if let OpKind::Create { fields, .. } | OpKind::Set { fields, .. } = &mut own.kind {
            let names: Vec<String> = fields.keys().filter(|n| is_tally(n)).cloned().collect();
            for name in names {
                if let Some(v) = fields.remove(&name) {
                    legacy.insert(name, v);
                }
            }
        }
        let mut changed = self.apply(&own);
        if !legacy.is_empty() {
            changed |= self.apply(&Op {
                id: op.id.clone(),
                stamp: Stamp::new(op.stamp.clock, LEGACY_MEMBER),
                kind: OpKind::Set {
                    object: op.kind.object().to_owned(),
                    fields: legacy,
                },
            });
        }
        changed
    }

    /// Characters ever inserted into the room's mergeable text (deleted ones included).
    pub fn text_history(&self) -> usize {
        self.objects
            .values()
            .flat_map(|o| o.texts.values())
            .map(Text::total_len)
            .sum()
    }

    /// `op` with a reveal's values cut down to the members whose entry is sealed (`true`) in this
    /// document: what a server relays, so that a value outliving a withdraw is never shown.
    pub fn public_reveal(&self, mut op: Op) -> Op {
        if let OpKind::Reveal { object, values } = &mut op.kind {
            let obj = self.objects.get(object);
            for (field, members) in values.iter_mut() {
                let entries = obj.and_then(|o| o.sealed.get(field));
                members.retain(|member, _| {
                    entries
                        .and_then(|e| e.get(member))
                        .is_some_and(|f| f.value == Value::Bool(true))
                });
            }
            values.retain(|_, members| !members.is_empty());
        }
        op
    }

    /// The canonical serialization: equal documents give equal bytes.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).expect("a Doc always serializes")
    }

    /// Number of live objects (tombstones excluded).
    pub fn live_count(&self) -> usize {
        self.objects.len()
    }

    /// Is `id` visible: live, and every ancestor live, up to [`ROOT`]? Objects in a parent cycle
    /// (possible only through ops that validation rejects) are not visible.
    pub fn is_visible(&self, id: &str) -> bool {
        let mut current = id;
        for _ in 0..=self.objects.len() {
            match self.objects.get(current) {
                Some(obj) if obj.parent == ROOT => return true,
                Some(obj) => current = &obj.parent,
                None => return false,
            }
        }
        false
    }

    /// The visible children of `parent`, in order: by position key, ties broken by object id.
    pub fn children(&self, parent: &str) -> Vec<(&str, &Object)> {
        if parent != ROOT && !self.is_visible(parent) {
            return Vec::new();
        }
        let mut out: Vec<(&str, &Object)> = self
            .objects
            .iter()
            .filter(|(_, o)| o.parent == parent)
            .map(|(id, o)| (id.as_str(), o))
            .collect();
        out.sort_by(|a, b| (&a.1.pos, a.0).cmp(&(&b.1.pos, b.0)));
        out
    }

    /// Visible children of every visible object, in order, grouped by parent id. One pass, for
    /// callers that walk the whole tree (progress summaries, exports).
    pub fn tree(&self) -> HashMap<&str, Vec<(&str, &Object)>> {
        let mut by_parent: HashMap<&str, Vec<(&str, &Object)>> = HashMap::new();
        for (id, obj) in &self.objects {
            by_parent
                .entry(obj.parent.as_str())
                .or_default()
                .push((id.as_str(), obj));
        }
        for list in by_parent.values_mut() {
            list.sort_by(|a, b| (&a.1.pos, a.0).cmp(&(&b.1.pos, b.0)));
        }
        // Keep only what is reachable from the root.
        let mut reachable: HashMap<&str, Vec<(&str, &Object)>> = HashMap::new();
        let mut stack = vec![ROOT];
        while let Some(parent) = stack.pop() {
            if let Some(children) = by_parent.remove(parent) {
                stack.extend(children.iter().map(|(id, _)| *id));
                reachable.insert(parent, children);
            }
        }
        reachable
    }
}

fn set_fields(obj: &mut Object, stamp: &Stamp, fields: &BTreeMap<String, Value>) -> bool {
    let mut changed = false;
    for (name, value) in fields {
        match field_kind(&obj.ty, name) {
            Some(FieldKind::Prose(_)) => {
                let text = obj.texts.entry(name.clone()).or_default();
                changed |= text.replace(stamp, value.as_text());
                changed |= refresh_text(obj, name, stamp);
                continue;
            }
            Some(FieldKind::Tally { .. }) => {
                let entries = obj.tallies.entry(name.clone()).or_default();
                changed |= set_register(entries, &stamp.client, stamp, value);
                changed |= refresh_tally(obj, name, stamp);
                continue;
            }
            _ => {}
        }
        changed |= set_register(&mut obj.fields, name, stamp, value);
    }
    changed
}

/// Sets `fields[name]` to `value` if `stamp` wins (last writer wins). Reports a change.
fn set_register(
    fields: &mut BTreeMap<String, Field>,
    name: &str,
    stamp: &Stamp,
    value: &Value,
) -> bool {
    match fields.get_mut(name) {
        Some(f) if !wins(stamp, value, &f.stamp, &f.value) => false,
        Some(f) => {
            f.value = value.clone();
            f.stamp = stamp.clone();
            true
        }
        None => {
            let field = Field {
                value: value.clone(),
                stamp: stamp.clone(),
            };
            fields.insert(name.to_owned(), field);
            true
        }
    }
}

/// Puts a derived value in `fields[name]` (`None`: the value is unchanged), with the greatest
/// stamp that touched the field. Reports a change.
fn put_derived(obj: &mut Object, name: &str, stamp: &Stamp, value: Option<Value>) -> bool {
    match obj.fields.get_mut(name) {
        Some(f) => {
            let mut changed = false;
            if let Some(value) = value {
                changed = f.value != value;
                f.value = value;
            }
            if *stamp > f.stamp {
                f.stamp = stamp.clone();
                changed = true;
            }
            changed
        }
        None => {
            let field = Field {
                value: value.unwrap_or(Value::Null),
                stamp: stamp.clone(),
            };
            obj.fields.insert(name.to_owned(), field);
            true
        }
    }
}

/// Refreshes the live text of text field `name` in `fields` (`null` when empty). The text is
/// copied only when it differs from what `fields` holds (not after a duplicate, or a run born
/// deleted).
fn refresh_text(obj: &mut Object, name: &str, stamp: &Stamp) -> bool {
    let live = obj.texts.get(name).map_or("", Text::as_str);
    let same = match obj.fields.get(name).map(|f| &f.value) {
        Some(Value::Text(current)) => current == live,
        Some(Value::Null) => live.is_empty(),
        _ => false,
    };
    let value = match (same, live.is_empty()) {
        (true, _) => None,
        (false, true) => Some(Value::Null),
        (false, false) => Some(Value::Text(live.to_owned())),
    };
    put_derived(obj, name, stamp, value)
}

/// Refreshes the total of tally field `name` in `fields`.
fn refresh_tally(obj: &mut Object, name: &str, stamp: &Stamp) -> bool {
    let total = obj.tallies.get(name).map_or(0, tally_total);
    put_derived(obj, name, stamp, Some(Value::Int(total)))
}

/// The total of a tally: the sum of its members' integer entries.
pub fn tally_total(entries: &BTreeMap<String, Field>) -> i64 {
    entries
        .values()
        .filter_map(|f| match f.value {
            Value::Int(n) => Some(n),
            _ => None,
        })
        .fold(0i64, |a, n| a.saturating_add(n))
}
