//! Object types described as data.
//!
//! Every artefact of ../shared/DOMAIN.md is one [`TypeSchema`] entry in [`SCHEMAS`]: its fields,
//! their value kinds and limits, and which parent types it may live under. Merge code never looks
//! at a type name; validation reads this table. A new artefact type is a new table entry.

/// The parent id of top-level objects.
pub const ROOT: &str = "root";
/// The pseudo type of [`ROOT`] in [`TypeSchema::parents`].
pub const ROOT_TYPE: &str = "root";

/// Maximum length, in characters, of a title-like field.
pub const MAX_TITLE_CHARS: usize = 300;
/// Maximum length, in characters, of a free-text field.
pub const MAX_TEXT_CHARS: usize = 10_000;
/// Maximum length, in characters, of a short label (names, tags, dates).
pub const MAX_LABEL_CHARS: usize = 100;
/// Maximum number of characters ever inserted into one mergeable text field, deleted ones
/// included (their ids stay as anchors): 24 bytes each, so a field stays under 5 MiB.
pub const MAX_TEXT_HISTORY: usize = 200_000;
/// Maximum number of characters ever inserted into all the mergeable text of one room (24 MiB).
pub const MAX_ROOM_TEXT_HISTORY: usize = 1_000_000;
/// Dots each member may spread over a room's Lean Coffee topics.
pub const LEAN_COFFEE_DOTS: i64 = 3;
/// Maximum number of live objects in one room's document.
pub const MAX_OBJECTS: usize = 10_000;
/// Maximum length of an object id.
pub const MAX_ID_CHARS: usize = 64;
/// Maximum length of a position key. Appends and prepends stay at a few characters, but
/// inserting again and again into the same gap grows keys by about one character per five
/// inserts (protocol/tests/fractional.rs measures 202 characters after 1,000 such inserts), so
/// the bound leaves room for about 5,000 of them; a client past it moves the items to fresh keys.
pub const MAX_POS_CHARS: usize = 1_024;

/// What values a field accepts. `null` is accepted by every field and clears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A string of at most this many characters, last writer wins (titles, labels).
    Text(usize),
    /// Mergeable text of at most this many characters: concurrent edits from several members
    /// all survive (see [`crate::text`]). A whole-value write replaces the text.
    Prose(usize),
    /// Per-member records: each member writes only their own entry (an integer from 0 to
    /// `max`), the field's value is the total, and a member's entries over every object of the
    /// type in a room add up to at most `budget` (dots in a Lean Coffee).
    Tally { max: i64, budget: i64 },
    /// Per-member sealed entries (hidden votes): each member seals a value of the inner kind
    /// with a `seal` op; until a `reveal` op, the document (and every member) knows only who
    /// has sealed, and the server keeps the values in private storage.
    Sealed(&'static FieldKind),
    /// A value-scoring allocation, only ever sealed: `item=points` pairs separated by commas
    /// (see [`crate::estimate::parse_allocation`]), naming live backlog items, whose points add
    /// up to at most the object's `budget`.
    Allocation,
    /// Throughput samples typed by a person: whole numbers separated by commas or spaces (see
    /// [`crate::forecast::parse_samples`]).
    Samples,
    /// An integer in an inclusive range.
    Int(i64, i64),
    /// `true` or `false`.
    Bool,
    /// One string out of a fixed list.
    Enum(&'static [&'static str]),
}

/// One field of an object type.
#[derive(Debug, Clone, Copy)]
pub struct FieldSchema {
    pub name: &'static str,
    pub kind: FieldKind,
}

/// One object type.
#[derive(Debug, Clone, Copy)]
pub struct TypeSchema {
    pub name: &'static str,
    /// Types this type may be a child of; [`ROOT_TYPE`] means top level.
    pub parents: &'static [&'static str],
    pub fields: &'static [FieldSchema],
}

impl TypeSchema {
    pub fn field(&self, name: &str) -> Option<&FieldSchema> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// The kind of field `name` of type `ty`, if both are known.
pub fn field_kind(ty: &str, name: &str) -> Option<FieldKind> {
    schema(ty).and_then(|s| s.field(name)).map(|f| f.kind)
}

const fn text(name: &'static str, max: usize) -> FieldSchema {
    FieldSchema {
        name,
        kind: FieldKind::Text(max),
    }
}
const fn prose(name: &'static str, max: usize) -> FieldSchema {
    FieldSchema {
        name,
        kind: FieldKind::Prose(max),
    }
}
const fn tally(name: &'static str, max: i64, budget: i64) -> FieldSchema {
    FieldSchema {
        name,
        kind: FieldKind::Tally { max, budget },
    }
}
const fn sealed(name: &'static str, inner: &'static FieldKind) -> FieldSchema {
    FieldSchema {
        name,
        kind: FieldKind::Sealed(inner),
    }
}
const fn samples(name: &'static str) -> FieldSchema {
    FieldSchema {
        name,
        kind: FieldKind::Samples,
    }
}
const fn int(name: &'static str, min: i64, max: i64) -> FieldSchema {
    FieldSchema {
        name,
        kind: FieldKind::Int(min, max),
    }
}
const fn flag(name: &'static str) -> FieldSchema {
    FieldSchema {
        name,
        kind: FieldKind::Bool,
    }
}
const fn one_of(name: &'static str, values: &'static [&'static str]) -> FieldSchema {
    FieldSchema {
        name,
        kind: FieldKind::Enum(values),
    }
}

/// The five sections of a Product Vision Board (Roman Pichler).
pub const VISION_SECTIONS: &[&str] = &[
    "vision",
    "target_group",
    "needs",
    "product",
    "business_goals",
];
/// Estimate scales: Fibonacci story points and T-shirt sizes.
pub const ESTIMATES: &[&str] = &[
    "1", "2", "3", "5", "8", "13", "21", "?", "XS", "S", "M", "L", "XL",
];
pub const ITEM_STATUSES: &[&str] = &["new", "ready", "in_progress", "done"];
pub const DECISIONS: &[&str] = &["persevere", "pivot", "retire", "keep_testing"];
pub const LEAN_COFFEE_COLUMNS: &[&str] = &["to_discuss", "discussing", "discussed"];

/// What an estimation card can say: the estimate scales, plus coffee (a break, please).
pub const CARDS: &[&str] = &[
    "1", "2", "3", "5", "8", "13", "21", "?", "coffee", "XS", "S", "M", "L", "XL",
];
pub const SCALES: &[&str] = &["fibonacci", "tshirt"];
const CARD: FieldKind = FieldKind::Enum(CARDS);
const ALLOCATION: FieldKind = FieldKind::Allocation;
/// Fields that cannot change once a member has sealed an entry in the object: a vote cast on
/// one scale, or points spread within one budget, would no longer mean what they meant.
pub const FIXED_ONCE_SEALED: &[&str] = &["scale", "budget"];
/// Largest value-scoring budget.
pub const MAX_BUDGET: i64 = 10_000;

/// Every object type a room document may hold.
pub const SCHEMAS: &[TypeSchema] = &[
    TypeSchema {
        name: "vision_section",
        parents: &[ROOT_TYPE],
        fields: &[
            one_of("section", VISION_SECTIONS),
            text("title", MAX_TITLE_CHARS),
        ],
    },
    TypeSchema {
        name: "vision_note",
        parents: &["vision_section"],
        fields: &[
            prose("text", MAX_TEXT_CHARS),
            text("author", MAX_LABEL_CHARS),
        ],
    },
    TypeSchema {
        name: "backlog_item",
        parents: &[ROOT_TYPE],
        fields: &[
            text("title", MAX_TITLE_CHARS),
            text("role", MAX_TITLE_CHARS),
            prose("goal", MAX_TEXT_CHARS),
            prose("benefit", MAX_TEXT_CHARS),
            one_of("estimate", ESTIMATES),
            int("value", 0, 1_000_000),
            one_of("status", ITEM_STATUSES),
            text("tag", MAX_LABEL_CHARS),
            text("link", MAX_TITLE_CHARS),
        ],
    },
    TypeSchema {
        name: "acceptance_criterion",
        parents: &["backlog_item"],
        fields: &[
            prose("given", MAX_TEXT_CHARS),
            prose("when", MAX_TEXT_CHARS),
            prose("then", MAX_TEXT_CHARS),
            prose("and", MAX_TEXT_CHARS),
            flag("met"),
        ],
    },
    TypeSchema {
        name: "experiment",
        parents: &[ROOT_TYPE],
        fields: &[
            prose("hypothesis", MAX_TEXT_CHARS),
            prose("test", MAX_TEXT_CHARS),
            prose("metric", MAX_TEXT_CHARS),
            prose("criterion", MAX_TEXT_CHARS),
            text("deadline", MAX_LABEL_CHARS),
            text("owner", MAX_LABEL_CHARS),
            prose("observation", MAX_TEXT_CHARS),
            prose("learning", MAX_TEXT_CHARS),
            one_of("decision", DECISIONS),
        ],
    },
    TypeSchema {
        name: "lean_coffee_topic",
        parents: &[ROOT_TYPE],
        fields: &[
            text("title", MAX_TITLE_CHARS),
            text("author", MAX_LABEL_CHARS),
            tally("votes", LEAN_COFFEE_DOTS, LEAN_COFFEE_DOTS),
            one_of("column", LEAN_COFFEE_COLUMNS),
            prose("notes", MAX_TEXT_CHARS),
        ],
    },
    TypeSchema {
        name: "estimation_round",
        parents: &["backlog_item"],
        fields: &[
            one_of("scale", SCALES),
            sealed("votes", &CARD),
            flag("auto_reveal"),
            one_of("accepted", ESTIMATES),
        ],
    },
    TypeSchema {
        name: "value_round",
        parents: &[ROOT_TYPE],
        fields: &[
            text("title", MAX_TITLE_CHARS),
            int("budget", 1, MAX_BUDGET),
            sealed("points", &ALLOCATION),
            flag("auto_reveal"),
        ],
    },
    TypeSchema {
        name: "forecast",
        parents: &[ROOT_TYPE],
        fields: &[
            samples("throughput"),
            int("low", 0, crate::forecast::MAX_SAMPLE as i64),
            int("high", 0, crate::forecast::MAX_SAMPLE as i64),
            int("items", 1, crate::forecast::MAX_ITEMS as i64),
            int("sprints", 1, crate::forecast::MAX_SPRINTS as i64),
            int("seed", 0, u32::MAX as i64),
            int("done_seen", 0, MAX_OBJECTS as i64),
        ],
    },
    TypeSchema {
        name: "feedback",
        parents: &[ROOT_TYPE, "backlog_item"],
        fields: &[
            text("text", MAX_TEXT_CHARS),
            text("author", MAX_LABEL_CHARS),
        ],
    },
];

/// The schema of `name`, if it is a known type.
pub fn schema(name: &str) -> Option<&'static TypeSchema> {
    SCHEMAS.iter().find(|s| s.name == name)
}
