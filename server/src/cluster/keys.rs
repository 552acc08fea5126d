//! Redis key names. Every key of a room or workshop carries a hash tag (`{w-…:room-1}`,
//! `{w-…}`), so Redis Cluster can shard them and each script touches one tag only.

fn room_tag(workshop: &str, room: &str) -> String {
    format!("{{{workshop}:{room}}}")
}

/// Keys of one room.
pub struct RoomKeys {
    pub log: String,
    pub(super) seq: String,
    pub(super) snap: String,
    pub(super) epoch: String,
    pub(super) pres_nodes: String,
    /// The room's sealed values (server-private): field `object<US>name<US>member`, value JSON.
    pub(super) sealed: String,
    /// The ids of the room's objects that were revealed (a set).
    pub(super) revealed: String,
    /// The room's remembered op ids (a hash: op id -> `seq:sender`), for deduplication.
    pub(super) op_ids: String,
    /// The same op ids, oldest first (a list), so that the oldest beyond the bound are dropped.
    pub(super) op_order: String,
    pub(super) tag: String,
}

impl RoomKeys {
    pub fn new(workshop: &str, room: &str) -> Self {
        let tag = room_tag(workshop, room);
        RoomKeys {
            log: format!("{tag}:log"),
            seq: format!("{tag}:seq"),
            snap: format!("{tag}:snap"),
            epoch: format!("{tag}:epoch"),
            pres_nodes: format!("{tag}:presnodes"),
            sealed: format!("{tag}:sealed"),
            revealed: format!("{tag}:revealed"),
            op_ids: format!("{tag}:ops"),
            op_order: format!("{tag}:opq"),
            tag,
        }
    }

    /// Where nodes before the bounded dedup kept an op id (see [`super::scripts::APPEND`]).
    pub(super) fn legacy_dedup(&self, op_id: &str) -> String {
        format!("{}:op:{op_id}", self.tag)
    }

    pub(super) fn presence(&self, node: &str) -> String {
        format!("{}:pres:{node}", self.tag)
    }
}

/// The Pub/Sub channel on which the append script pushes the entries of the room whose log is
/// `log` (`{tag}:log` -> `{tag}:push`).
pub(super) fn push_channel(log: &str) -> String {
    format!("{}:push", log.strip_suffix(":log").unwrap_or(log))
}

/// The log of the room whose entries `channel` carries: the inverse of [`push_channel`].
pub(super) fn log_of_push(channel: &str) -> Option<String> {
    channel
        .strip_suffix(":push")
        .map(|tag| format!("{tag}:log"))
}

/// The key of a workshop's state and of its event stream.
pub fn workshop_keys(id: &str) -> (String, String) {
    (format!("{{{id}}}:data"), format!("{{{id}}}:events"))
}

pub(super) fn code_key(code: &str) -> String {
    format!("plenary:code:{code}")
}
