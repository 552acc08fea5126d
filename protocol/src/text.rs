//! Mergeable text: a sequence CRDT (RGA, after Roh et al. 2011) for the fields people write
//! together.
//!
//! A text is a sequence of characters, each with a unique id `(clock, client, index)`: the
//! stamp of the op that inserted it and its offset in that op's run. An insert names the
//! character it goes after (its *origin*, `None` for the start). Concurrent inserts after the
//! same origin are ordered by id, greatest first, and a run typed by one member stays together:
//! each of its characters has the one before it as origin. A delete marks characters as
//! deleted (a tombstone keeps its id, so later inserts can still anchor to it, but drops its
//! content). Because every character's id is greater than its origin's (validation refuses an
//! insert stamped below its origin), the placement rule below gives the same sequence whatever
//! order concurrent ops arrive in.
//!
//! A whole-value write (`set`, or a `create` with the field) *replaces* the text: it tombstones
//! every character stamped below it and inserts its own run at the start; a character stamped
//! below the newest replace is born deleted. Both rules depend only on stamps, so replaces and
//! edits converge in any order too. This is also how a plain string stored by an older version
//! is converted: as a replace at the field's stamp.

use std::cmp::Ordering;
use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::value::Stamp;

/// The id of one character: the inserting op's stamp and the character's offset in its run.
/// Written on the wire as `"<clock>.<index>.<client>"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CharId {
    pub clock: u64,
    pub client: String,
    pub index: u32,
}

impl CharId {
    /// Parses the wire form. `None` for anything else.
    pub fn parse(s: &str) -> Option<CharId> {
        let (clock, rest) = s.split_once('.')?;
        let (index, client) = rest.split_once('.')?;
        let digits =
            |t: &str| !t.is_empty() && t.len() <= 20 && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(clock) || !digits(index) || client.is_empty() {
            return None;
        }
        Some(CharId {
            clock: clock.parse().ok()?,
            index: index.parse().ok()?,
            client: client.to_owned(),
        })
    }

    fn key(&self) -> (u64, &str, u32) {
        (self.clock, self.client.as_str(), self.index)
    }
}

impl fmt::Display for CharId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.clock, self.index, self.client)
    }
}

/// One character. `client` indexes [`Text::clients`]; a deleted character keeps `'\0'`.
#[derive(Debug, Clone, Copy)]
struct Elem {
    clock: u64,
    index: u32,
    client: u32,
    ch: char,
    deleted: bool,
}

/// The state of one mergeable text field.
///
/// Memory: 24 bytes per character ever inserted (deleted ones included), the live text, and one
/// entry per inserting op; docs/BENCHMARKS.md measures about 47 bytes per character written.
#[derive(Debug, Clone, Default)]
pub struct Text {
    /// Client ids, interned so that a character stores a 4-byte index instead of a string.
    /// The order of this table depends on arrival order; nothing observable depends on it.
    clients: Vec<Box<str>>,
    /// Every character ever inserted, in document order.
    elems: Vec<Elem>,
    /// The stamp of the newest replace: characters stamped below it are deleted.
    cleared: Option<Stamp>,
    /// The live text, kept up to date by every change (rendering it anew for each typed
    /// character was most of the cost of a text op). Derived: not serialized, not compared.
    live: String,
    /// (clock, client) of every op that inserted here, to make a repeated insert a no-op
    /// without scanning. Derived, like `live`.
    runs: std::collections::HashSet<(u64, u32)>,
}

impl Text {
    /// Rebuilds `live` from `elems`.
    fn rebuild(&mut self) {
        let mut out = String::with_capacity(self.elems.len());
        out.extend(self.elems.iter().filter(|e| !e.deleted).map(|e| e.ch));
        self.live = out;
        self.runs = self.elems.iter().map(|e| (e.clock, e.client)).collect();
    }

    fn intern(&mut self, client: &str) -> u32 {
        match self.clients.iter().position(|c| &**c == client) {
            Some(i) => i as u32,
            None => {
                self.clients.push(client.into());
                (self.clients.len() - 1) as u32
            }
        }
    }

    fn id_of(&self, e: &Elem) -> (u64, &str, u32) {
        (e.clock, &self.clients[e.client as usize], e.index)
    }

    /// The interned index of `client`, if it wrote anything here.
    fn client_index(&self, client: &str) -> Option<u32> {
        self.clients
            .iter()
            .position(|c| &**c == client)
            .map(|i| i as u32)
    }

    /// Position of character `id`, deleted or not. Compares integers only: this scan runs for
    /// every insert and is most of its cost.
    pub fn position(&self, id: &CharId) -> Option<usize> {
        let client = self.client_index(&id.client)?;
        self.elems
            .iter()
            .position(|e| e.clock == id.clock && e.index == id.index && e.client == client)
    }

    /// Positions of `ids` (deleted characters included), in one pass over the text when there
    /// are more than a few: deleting a selection must not cost its length times the text's.
    pub fn positions(&self, ids: &[CharId]) -> Vec<Option<usize>> {
        if ids.len() <= 4 {
            return ids.iter().map(|id| self.position(id)).collect();
        }
        let index: std::collections::HashMap<(u64, &str, u32), usize> = self
            .elems
            .iter()
            .enumerate()
            .map(|(i, e)| (self.id_of(e), i))
            .collect();
        ids.iter().map(|id| index.get(&id.key()).copied()).collect()
    }

    /// Whether an op with this stamp already inserted characters here.
    pub fn has_run(&self, stamp: &Stamp) -> bool {
        self.client_index(&stamp.client)
            .is_some_and(|c| self.runs.contains(&(stamp.clock, c)))
    }

    /// Whether characters stamped `(clock, client)` are deleted by the newest replace.
    fn cleared_below(&self, clock: u64, client: &str) -> bool {
        self.cleared
            .as_ref()
            .is_some_and(|c| (clock, client) < (c.clock, c.client.as_str()))
    }

    /// Inserts `text` after `after` (`None`: at the start), its characters stamped
    /// `(stamp, 0..)`. Idempotent; does nothing when `after` is unknown. Reports a change.
    pub fn insert(&mut self, stamp: &Stamp, after: Option<&CharId>, text: &str) -> bool {
        if text.is_empty() || self.has_run(stamp) {
            return false;
        }
        // One pass up to the anchor, adding up the bytes of the live characters before the
        // insertion point as it goes (the text's memory is most of what a text op touches).
        let live_len = |e: &Elem| if e.deleted { 0 } else { e.ch.len_utf8() };
        let (mut pos, mut offset) = match after {
            None => (0, 0),
            Some(id) => {
                let Some(client) = self.client_index(&id.client) else {
                    return false;
                };
                let mut offset = 0;
                let mut found = None;
                for (i, e) in self.elems.iter().enumerate() {
                    offset += live_len(e);
                    if e.clock == id.clock && e.index == id.index && e.client == client {
                        found = Some(i);
                        break;
                    }
                }
                match found {
                    Some(i) => (i + 1, offset),
                    None => return false,
                }
            }
        };
        // Skip the subtrees of concurrent inserts at the same origin with greater ids: every
        // character in them has an id greater than the new run's, and the first character
        // with a smaller id starts what comes after the new run.
        let new = (stamp.clock, stamp.client.as_str(), 0u32);
        while pos < self.elems.len() && self.id_of(&self.elems[pos]) > new {
            offset += live_len(&self.elems[pos]);
            pos += 1;
        }
        let deleted = self.cleared_below(stamp.clock, &stamp.client);
        let client = self.intern(&stamp.client);
        let run = text.chars().enumerate().map(|(i, ch)| Elem {
            clock: stamp.clock,
            index: i as u32,
            client,
            ch: if deleted { '\0' } else { ch },
            deleted,
        });
        if !deleted {
            self.live.insert_str(offset, text);
        }
        self.runs.insert((stamp.clock, client));
        self.elems.splice(pos..pos, run);
        !deleted
    }

    /// Deletes the characters `ids` (unknown ids are ignored). Reports a change.
    pub fn delete(&mut self, ids: &[CharId]) -> bool {
        let mut doomed: Vec<usize> = self
            .positions(ids)
            .into_iter()
            .flatten()
            .filter(|p| !self.elems[*p].deleted)
            .collect();
        if doomed.is_empty() {
            return false;
        }
        doomed.sort_unstable();
        doomed.dedup();
        // Byte ranges of the doomed characters in `live`, found in one pass, removed from the
        // back so that the earlier offsets stay right.
        let mut ranges = Vec::with_capacity(doomed.len());
        let mut offset = 0;
        let mut next = doomed.iter().peekable();
        for (i, e) in self.elems.iter().enumerate() {
            if next.peek() == Some(&&i) {
                ranges.push(offset..offset + e.ch.len_utf8());
                next.next();
            }
            if !e.deleted {
                offset += e.ch.len_utf8();
            }
        }
        for r in ranges.into_iter().rev() {
            self.live.replace_range(r, "");
        }
        for p in doomed {
            let e = &mut self.elems[p];
            e.deleted = true;
            e.ch = '\0';
        }
        true
    }

    /// Replaces the whole text (a `set` of the field at `stamp`; `None` clears it). Characters
    /// stamped below the newest replace are deleted, whenever they arrive.
    pub fn replace(&mut self, stamp: &Stamp, text: Option<&str>) -> bool {
        let mut changed = false;
        if self.cleared.as_ref().is_none_or(|c| stamp > c) {
            self.cleared = Some(stamp.clone());
            for i in 0..self.elems.len() {
                let e = self.elems[i];
                if !e.deleted && self.cleared_below(e.clock, &self.clients[e.client as usize]) {
                    self.elems[i].deleted = true;
                    self.elems[i].ch = '\0';
                    changed = true;
                }
            }
            if changed {
                self.rebuild();
            }
        }
        if let Some(text) = text {
            changed |= self.insert(stamp, None, text);
        }
        changed
    }

    /// The live text.
    pub fn render(&self) -> String {
        self.live.clone()
    }

    /// The live text, borrowed.
    pub fn as_str(&self) -> &str {
        &self.live
    }

    /// Number of live characters.
    pub fn live_len(&self) -> usize {
        self.elems.iter().filter(|e| !e.deleted).count()
    }

    /// Number of characters ever inserted, tombstones included.
    pub fn total_len(&self) -> usize {
        self.elems.len()
    }

    /// The ids of the live characters, in order (for clients that turn offsets into ids).
    pub fn live_ids(&self) -> Vec<CharId> {
        self.elems
            .iter()
            .filter(|e| !e.deleted)
            .map(|e| CharId {
                clock: e.clock,
                client: self.clients[e.client as usize].to_string(),
                index: e.index,
            })
            .collect()
    }

    /// Whether the character at `position` is live.
    pub fn is_live_at(&self, position: usize) -> bool {
        self.elems.get(position).is_some_and(|e| !e.deleted)
    }

    /// Whether character `id` exists and is live.
    pub fn is_live(&self, id: &CharId) -> bool {
        self.position(id).is_some_and(|p| !self.elems[p].deleted)
    }

    /// Runs of the canonical form: maximal stretches of one op's consecutive characters with
    /// the same deleted flag.
    fn runs(&self) -> Vec<Run<'_>> {
        let mut out: Vec<Run> = Vec::new();
        for e in &self.elems {
            let client = &*self.clients[e.client as usize];
            if let Some(last) = out.last_mut() {
                if last.client == client
                    && last.clock == e.clock
                    && last.index + last.len == e.index
                    && last.deleted == e.deleted
                {
                    last.len += 1;
                    if !e.deleted {
                        last.text.push(e.ch);
                    }
                    continue;
                }
            }
            out.push(Run {
                client,
                clock: e.clock,
                index: e.index,
                len: 1,
                deleted: e.deleted,
                text: if e.deleted {
                    String::new()
                } else {
                    e.ch.to_string()
                },
            });
        }
        out
    }
}

struct Run<'a> {
    client: &'a str,
    clock: u64,
    index: u32,
    len: u32,
    deleted: bool,
    text: String,
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.cleared == other.cleared
            && self.elems.len() == other.elems.len()
            && self.elems.iter().zip(&other.elems).all(|(a, b)| {
                self.id_of(a) == other.id_of(b) && a.ch == b.ch && a.deleted == b.deleted
            })
    }
}

impl Eq for Text {}

impl PartialOrd for CharId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CharId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

// The canonical JSON form: `{"cleared": stamp?, "runs": [[client, clock, index, text | n]]}`,
// where a live run carries its text and a deleted run only its length.

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Form<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            cleared: &'a Option<Stamp>,
            runs: RunsForm<'a>,
        }
        struct RunsForm<'a>(&'a Text);
        impl Serialize for RunsForm<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let runs = self.0.runs();
                let mut seq = serializer.serialize_seq(Some(runs.len()))?;
                for r in &runs {
                    if r.deleted {
                        seq.serialize_element(&(r.client, r.clock, r.index, r.len))?;
                    } else {
                        seq.serialize_element(&(r.client, r.clock, r.index, &r.text))?;
                    }
                }
                seq.end()
            }
        }
        Form {
            cleared: &self.cleared,
            runs: RunsForm(self),
        }
        .serialize(serializer)
    }
}

/// A run as read: the last element is the live text or the number of deleted characters.
#[derive(Deserialize)]
#[serde(untagged)]
enum RunBody {
    Live(String),
    Deleted(u32),
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Form {
            #[serde(default)]
            cleared: Option<Stamp>,
            runs: Runs,
        }
        struct Runs(Vec<(String, u64, u32, RunBody)>);
        impl<'de> Deserialize<'de> for Runs {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = Runs;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a list of text runs")
                    }
                    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Runs, A::Error> {
                        let mut out = Vec::new();
                        while let Some(run) = seq.next_element()? {
                            out.push(run);
                        }
                        Ok(Runs(out))
                    }
                }
                d.deserialize_seq(V)
            }
        }
        let form = Form::deserialize(deserializer)?;
        let mut text = Text {
            cleared: form.cleared,
            ..Text::default()
        };
        for (client, clock, index, body) in form.runs.0 {
            let c = text.intern(&client);
            let mut push = |i: u32, ch: char, deleted: bool| -> Result<(), D::Error> {
                let index = index
                    .checked_add(i)
                    .ok_or_else(|| de::Error::custom("text run index overflows"))?;
                text.elems.push(Elem {
                    clock,
                    index,
                    client: c,
                    ch,
                    deleted,
                });
                Ok(())
            };
            match body {
                RunBody::Live(s) => {
                    for (i, ch) in s.chars().enumerate() {
                        push(i as u32, ch, false)?;
                    }
                }
                RunBody::Deleted(n) => {
                    if n > crate::schema::MAX_TEXT_HISTORY as u32 {
                        return Err(de::Error::custom("deleted text run too long"));
                    }
                    for i in 0..n {
                        push(i, '\0', true)?;
                    }
                }
            }
        }
        text.rebuild();
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(clock: u64, client: &str) -> Stamp {
        Stamp::new(clock, client)
    }

    fn id(clock: u64, client: &str, index: u32) -> CharId {
        CharId {
            clock,
            client: client.into(),
            index,
        }
    }

    #[test]
    fn char_ids_round_trip() {
        let c = id(12, "p-ab.c", 3);
        assert_eq!(c.to_string(), "12.3.p-ab.c");
        assert_eq!(CharId::parse("12.3.p-ab.c"), Some(c));
        for bad in ["", "12", "12.3", "12.3.", "x.3.a", "12.-1.a", "1.2"] {
            assert_eq!(CharId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn concurrent_inserts_at_one_place_keep_both_runs_whole() {
        let mut a = Text::default();
        a.replace(&s(1, "x"), Some("ab"));
        let mut b = a.clone();
        let origin = id(1, "x", 0);
        let one = (s(5, "p1"), "HELLO");
        let two = (s(5, "p2"), "world");
        a.insert(&one.0, Some(&origin), one.1);
        a.insert(&two.0, Some(&origin), two.1);
        b.insert(&two.0, Some(&origin), two.1);
        b.insert(&one.0, Some(&origin), one.1);
        assert_eq!(a, b);
        assert_eq!(a.render(), "aworldHELLOb");
    }

    #[test]
    fn replace_deletes_older_characters_whenever_they_arrive() {
        let mut a = Text::default();
        a.replace(&s(1, "x"), Some("old"));
        let mut b = a.clone();
        let edit = s(3, "p1");
        a.insert(&edit, Some(&id(1, "x", 2)), "!");
        a.replace(&s(4, "p2"), Some("new"));
        b.replace(&s(4, "p2"), Some("new"));
        b.insert(&edit, Some(&id(1, "x", 2)), "!");
        assert_eq!(a, b);
        assert_eq!(a.render(), "new");
        // A later edit survives an older replace.
        let mut c = Text::default();
        c.replace(&s(1, "x"), Some("ab"));
        c.insert(&s(9, "p1"), Some(&id(1, "x", 1)), "c");
        c.replace(&s(8, "p2"), Some("zz"));
        assert_eq!(c.render(), "zzc");
    }

    #[test]
    fn canonical_form_round_trips() {
        let mut t = Text::default();
        t.replace(&s(1, "x"), Some("hello"));
        t.insert(&s(2, "p1"), Some(&id(1, "x", 4)), " world");
        t.delete(&[id(1, "x", 1), id(1, "x", 2)]);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(
            json,
            r#"{"cleared":{"clock":1,"client":"x"},"runs":[["x",1,0,"h"],["x",1,1,2],["x",1,3,"lo"],["p1",2,0," world"]]}"#
        );
        let back: Text = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.render(), "hlo world");
    }
}
