//! Exercise templates as ops, and a room's progress summary.
//!
//! Template objects have fixed ids and their ops fixed op ids, so seeding a template twice, or on
//! two nodes racing, creates nothing new: the objects exist and the op ids are known. Those ids
//! are the server's ([`TEMPLATE_OBJECT_PREFIX`]): no member can take one first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::doc::Doc;
use crate::fractional;
use crate::op::{Op, OpKind};
use crate::schema::{ROOT, VISION_SECTIONS};
use crate::value::{Stamp, Value};
use crate::workshop::Template;

/// The client id the server stamps its own ops with.
pub const SERVER_CLIENT: &str = "server";
/// Op id prefixes of the server's own ops (template seeds, automatic reveals): a client op with
/// one of them is refused, so a client can never take an id the server will need.
pub const SERVER_OP_PREFIXES: &[&str] = &["seed.", "server-"];
/// Object id prefix of the templates' objects: a client may not create an object with it, so
/// that a template is always seeded in full.
pub const TEMPLATE_OBJECT_PREFIX: &str = "tpl.";

fn title_of(section: &str) -> &'static str {
    match section {
        "vision" => "Vision",
        "target_group" => "Target Group",
        "needs" => "Needs",
        "product" => "Product",
        _ => "Business Goals",
    }
}

/// The ops that seed `template` into `doc`, skipping objects that already exist (or existed).
/// A Vision Board section is skipped only while the board has a section of that kind (whoever
/// created it); one that a member deleted comes back under the next free id, since a deleted id
/// stays deleted. Stamps start just above the document clock.
pub fn seed_ops(doc: &Doc, template: Template) -> Vec<Op> {
    let mut wanted: Vec<(String, &str, BTreeMap<String, Value>)> = Vec::new();
    match template {
        Template::VisionBoard => {
            for section in VISION_SECTIONS {
                let fields = BTreeMap::from([
                    ("section".to_owned(), Value::Text((*section).to_owned())),
                    (
                        "title".to_owned(),
                        Value::Text(title_of(section).to_owned()),
                    ),
                ]);
                wanted.push((format!("tpl.vision.{section}"), "vision_section", fields));
            }
        }
        Template::Backlog => {
            let fields = BTreeMap::from([
                ("title".to_owned(), Value::Text("Example story".to_owned())),
                (
                    "role".to_owned(),
                    Value::Text("workshop attendee".to_owned()),
                ),
                (
                    "goal".to_owned(),
                    Value::Text("see how a good story reads".to_owned()),
                ),
                (
                    "benefit".to_owned(),
                    Value::Text("I can write my own".to_owned()),
                ),
                ("status".to_owned(), Value::Text("new".to_owned())),
            ]);
            wanted.push(("tpl.backlog.example".to_owned(), "backlog_item", fields));
        }
        Template::Experiment => {
            let fields = BTreeMap::from([(
                "hypothesis".to_owned(),
                Value::Text("We believe that ...".to_owned()),
            )]);
            wanted.push(("tpl.experiment.1".to_owned(), "experiment", fields));
        }
        Template::LeanCoffee => {}
    }
    // Append after the last existing top-level object.
    let mut last_pos = doc.children(ROOT).last().map(|(_, o)| o.pos.clone());
    let mut clock = doc.clock;
    let mut ops = Vec::new();
    for (id, ty, fields) in wanted {
        let id = if ty == "vision_section" {
            let kind = fields.get("section");
            let present = doc
                .objects
                .values()
                .any(|o| o.ty == ty && o.fields.get("section").map(|f| &f.value) == kind);
            match free_id(doc, &id) {
                Some(free) if !present => free,
                _ => continue,
            }
        } else if doc.objects.contains_key(&id) || doc.tombstones.contains(&id) {
            continue;
        } else {
            id
        };
        let pos = fractional::between(last_pos.as_deref(), None)
            .or_else(|_| fractional::between(None, None))
            .expect("between(None, None) always succeeds");
        clock += 1;
        ops.push(Op {
            id: format!("seed.{id}"),
            stamp: Stamp::new(clock, SERVER_CLIENT),
            kind: OpKind::Create {
                object: id,
                ty: ty.to_owned(),
                parent: ROOT.to_owned(),
                pos: pos.clone(),
                fields,
            },
        });
        last_pos = Some(pos);
    }
    ops
}

/// `base`, or `base.2`, `base.3`... : the first id that no object has or had.
fn free_id(doc: &Doc, base: &str) -> Option<String> {
    std::iter::once(base.to_owned())
        .chain((2..100).map(|n| format!("{base}.{n}")))
        .find(|id| !doc.objects.contains_key(id) && !doc.tombstones.contains(id))
}

/// How far a team is: what the facilitator's overview shows per room.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Vision board sections that hold at least one note.
    pub vision_sections_filled: usize,
    pub vision_sections: usize,
    pub stories: usize,
    /// Stories with at least one acceptance criterion.
    pub stories_with_criteria: usize,
    pub experiments: usize,
    pub feedback: usize,
}

/// Summarizes the visible objects of `doc`.
pub fn progress(doc: &Doc) -> Progress {
    let tree = doc.tree();
    let mut p = Progress::default();
    let top = tree.get(ROOT).map(Vec::as_slice).unwrap_or_default();
    for (id, obj) in top {
        let children = tree.get(id).map(Vec::as_slice).unwrap_or_default();
        match obj.ty.as_str() {
            "vision_section" => {
                p.vision_sections += 1;
                if children.iter().any(|(_, c)| c.ty == "vision_note") {
                    p.vision_sections_filled += 1;
                }
            }
            "backlog_item" => {
                p.stories += 1;
                if children.iter().any(|(_, c)| c.ty == "acceptance_criterion") {
                    p.stories_with_criteria += 1;
                }
                p.feedback += children.iter().filter(|(_, c)| c.ty == "feedback").count();
            }
            "experiment" => p.experiments += 1,
            "feedback" => p.feedback += 1,
            _ => {}
        }
    }
    p
}
