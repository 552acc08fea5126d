//! The CRDT-lite room document and its merge rules.
//!
//! * Last writer wins per (object, field), by [`Stamp`]; equal stamps fall back to comparing
//!   values, so the outcome never depends on arrival order.
//! * An object's type and its placement (parent + position) are registers with the same rule.
//! * Delete leaves a tombstone; ops on a tombstoned or unknown object change nothing.
//! * Siblings are ordered by fractional position key, ties broken by object id.
//!
//! [`Doc::apply`] is total: it never panics and never fails for any decoded op. Whether an op
//! is *allowed* is a separate question answered by [`crate::validate`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::op::{Op, OpKind};
use crate::schema::ROOT;
use crate::value::{Stamp, Value};

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
    pub fields: BTreeMap<String, Field>,
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doc {
    /// The greatest stamp clock seen; a writer's next stamp must be above it.
    pub clock: u64,
    pub objects: BTreeMap<String, Object>,
    /// Ids of deleted objects. Kept so that a late create or set of them stays a no-op.
    pub tombstones: BTreeSet<String>,
}

/// A winner check for last-writer-wins registers: does `(new, new_v)` beat `(old, old_v)`?
fn wins<T: Ord>(new: &Stamp, new_v: &T, old: &Stamp, old_v: &T) -> bool {
    (new, new_v) > (old, old_v)
}

impl Doc {
    pub fn new() -> Self {
        Self::default()
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
        }
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
        match obj.fields.get_mut(name) {
            Some(f) if !wins(stamp, value, &f.stamp, &f.value) => {}
            Some(f) => {
                f.value = value.clone();
                f.stamp = stamp.clone();
                changed = true;
            }
            None => {
                obj.fields.insert(
                    name.clone(),
                    Field {
                        value: value.clone(),
                        stamp: stamp.clone(),
                    },
                );
                changed = true;
            }
        }
    }
    changed
}
