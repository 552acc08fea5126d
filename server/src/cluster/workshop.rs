//! A workshop shared by several nodes: following the changes other nodes make to it.

use std::sync::Arc;

use plenary_protocol::{ServerMsg, TimerEvent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use super::keys::workshop_keys;
use super::{Redis, Subscriber, WorkshopEvent};
use crate::workshop::Workshop;

/// Workshop events queued for this node before the reader holds back.
const EVENT_QUEUE: usize = 64;

/// The fields a workshop event carries about a timer event, for the other nodes to push it to
/// their clients.
pub fn timer_fields(
    timer_event: Option<(u64, TimerEvent, u64)>,
    node: &str,
) -> Vec<(String, String)> {
    match timer_event {
        Some((timer, event, remaining)) => vec![
            ("node".into(), node.to_owned()),
            ("timer".into(), timer.to_string()),
            (
                "event".into(),
                if event == TimerEvent::Warning {
                    "warning"
                } else {
                    "expired"
                }
                .into(),
            ),
            ("remaining".into(), remaining.to_string()),
        ],
        None => Vec::new(),
    }
}

impl WorkshopEvent {
    /// The timer event this change fired, unless this node fired it (and pushed it already).
    fn timer_from_elsewhere(&self, node: &str) -> Option<(u64, TimerEvent, u64)> {
        if self.fields.get("node").map(String::as_str) == Some(node) {
            return None;
        }
        let timer = self.fields.get("timer")?.parse().ok()?;
        let event = match self.fields.get("event")?.as_str() {
            "warning" => TimerEvent::Warning,
            "expired" => TimerEvent::Expired,
            _ => return None,
        };
        let remaining_ms = self
            .fields
            .get("remaining")
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        Some((timer, event, remaining_ms))
    }
}

/// Follows a workshop's event stream from `last_event` on: each event names the new version; a
/// newer version is reloaded, and a timer event that another node fired is pushed to this
/// node's clients (the node that fired it already did).
pub fn follow_workshop(
    redis: &Arc<Redis>,
    workshop: &Arc<Workshop>,
    last_event: String,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) {
    let (tx, mut events) = mpsc::channel(EVENT_QUEUE);
    let (_, stream) = workshop_keys(&workshop.id);
    redis.subscribe(stream, last_event, Subscriber::Workshop(tx));
    let node = redis.node.clone();
    let workshop = workshop.clone();
    tracker.spawn(async move {
        loop {
            let event = tokio::select! {
                e = events.recv() => match e { Some(e) => e, None => return },
                _ = shutdown.cancelled() => return,
            };
            let known = workshop.lock().data.version;
            if event.version > known {
                if let Err(e) = workshop.reload().await {
                    warn!(workshop = %workshop.id, error = %e, "cannot reload workshop");
                }
            }
            // Pushed even if this node already loaded that version (say, after losing the
            // race to fire it).
            if let Some((timer, event, remaining_ms)) = event.timer_from_elsewhere(&node) {
                workshop.broadcast(ServerMsg::Timer {
                    timer,
                    event,
                    remaining_ms,
                });
            }
        }
    });
}
