//! Who may read and write what: rooms by role and team, ops by role, room and signature.
//! docs/PROTOCOL.md section 13 and docs/SECURITY.md describe the rules.

use plenary_protocol::workshop::PLENARY;
use plenary_protocol::{Op, OpKind, Role, Value};

use super::{ConnId, Participant, RoomHandle, Workshop, WorkshopState};

/// The role with its article, for messages ("an attendee may not ...").
pub(super) fn role_name(role: Role) -> &'static str {
    match role {
        Role::Facilitator => "a facilitator",
        Role::Attendee => "an attendee",
        Role::Observer => "an observer",
    }
}

/// The field that signs a card (vision notes, Lean Coffee topics, feedback): the server holds
/// it to the sender's own name, so that nobody posts under someone else's. A card is signed
/// when it is created, with the name the sender joined with, or left unsigned; the signature
/// never changes afterwards (a teammate who edits the card does not become its author).
pub const AUTHOR_FIELD: &str = "author";

fn check_author(name: &str, op: &Op) -> Result<(), String> {
    match &op.kind {
        OpKind::Create { fields, .. } => match fields.get(AUTHOR_FIELD) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Text(author)) if author == name => Ok(()),
            Some(_) => Err(format!(
                "a card is signed with your own name ({name:?}) or not at all"
            )),
        },
        OpKind::Set { fields, .. } if fields.contains_key(AUTHOR_FIELD) => {
            Err("a card's author is set when it is created and cannot be changed".into())
        }
        OpKind::Text { field, .. } if field == AUTHOR_FIELD => {
            Err("a card's author is set when it is created and cannot be changed".into())
        }
        _ => Ok(()),
    }
}

impl Workshop {
    /// Whether `participant` may apply `op` to `room`. Called by the room actor right before it
    /// orders the op, so a permission change takes effect for every later op.
    pub fn may_write(&self, participant: &str, room: &str, op: &Op) -> Result<(), String> {
        let state = self.lock();
        let Some(p) = state.find(participant) else {
            return Err("participant is no longer in this workshop".into());
        };
        let staged = state.data.stage.as_deref() == Some(room);
        check_author(&p.name, op)?;
        if matches!(op.kind, OpKind::Seal { .. }) && p.role != Role::Attendee {
            // Hidden votes are the team's: the facilitator runs the round and reveals it.
            return Err(format!(
                "only the members of room {room} vote; a {} may start and reveal a round",
                role_name(p.role)
            ));
        }
        match p.role {
            Role::Facilitator => Ok(()),
            Role::Attendee if p.room.as_deref() == Some(room) => Ok(()),
            Role::Attendee | Role::Observer => {
                let feedback = matches!(&op.kind, OpKind::Create { ty, .. } if ty == "feedback");
                if staged && feedback {
                    Ok(())
                } else if staged {
                    Err("on stage, the audience may only add feedback cards".into())
                } else {
                    Err(format!("{} may not edit room {room}", role_name(p.role)))
                }
            }
        }
    }
}

impl WorkshopState {
    /// Facilitators read every room; attendees the plenary, their team's room and the stage;
    /// observers the plenary and the stage.
    pub fn may_read(&self, p: &Participant, room: &str) -> bool {
        match p.role {
            Role::Facilitator => true,
            _ if room == PLENARY || self.data.stage.as_deref() == Some(room) => true,
            Role::Attendee => p.room.as_deref() == Some(room),
            Role::Observer => false,
        }
    }

    /// Connections subscribed to rooms they may no longer read.
    pub(super) fn evictions(&mut self, reason: &str) -> Vec<(RoomHandle, ConnId, String)> {
        let mut out = Vec::new();
        let mut drop_list = Vec::new();
        for (id, conn) in &self.conns {
            let Some(p) = self.find(&conn.participant) else {
                continue;
            };
            for room in &conn.rooms {
                if !self.may_read(p, room) {
                    if let Some(handle) = self.handles.get(room) {
                        out.push((handle.clone(), *id, reason.to_owned()));
                    }
                    drop_list.push((*id, room.clone()));
                }
            }
        }
        for (id, room) in drop_list {
            if let Some(c) = self.conns.get_mut(&id) {
                c.rooms.remove(&room);
            }
        }
        out
    }
}
