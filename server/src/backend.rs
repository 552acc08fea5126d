//! Where a node keeps its workshops, and who orders room ops: the embedded store of a node that
//! runs alone, or Redis shared by several nodes ([`crate::cluster`]). This is the one place that
//! asks which; the rest of the server calls these methods whatever the mode.

use std::sync::Arc;

use plenary_protocol::{Role, TimerEvent};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use crate::cluster::Redis;
use crate::store::{Store, StoreError, Write};
use crate::workshop::Workshop;

#[derive(Clone)]
pub enum Backend {
    /// One node: the embedded store keeps everything, and each room orders its own ops and
    /// commits them to the store.
    Local(Arc<dyn Store>),
    /// Several nodes: Redis orders every room's ops and keeps workshops, rooms and join codes;
    /// each node follows the rooms and workshops it serves.
    Cluster(Arc<Redis>),
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Facilitator => "facilitator",
        Role::Attendee => "attendee",
        Role::Observer => "observer",
    }
}

impl Backend {
    /// Registers a join code for every node; false if another node holds it. (A node alone
    /// decides with its own map, before this.)
    pub async fn claim_code(
        &self,
        code: &str,
        workshop: &str,
        role: Role,
    ) -> Result<bool, StoreError> {
        match self {
            Backend::Local(_) => Ok(true),
            Backend::Cluster(redis) => redis.claim_code(code, workshop, role_name(role)).await,
        }
    }

    /// The workshop and role of a join code another node registered (`None` on a node alone:
    /// its own map has every code).
    pub async fn code(&self, code: &str) -> Result<Option<(String, Role)>, StoreError> {
        let Backend::Cluster(redis) = self else {
            return Ok(None);
        };
        Ok(redis
            .code(code)
            .await?
            .and_then(|(workshop, role)| match role.as_str() {
                "attendee" => Some((workshop, Role::Attendee)),
                "observer" => Some((workshop, Role::Observer)),
                _ => None,
            }))
    }

    /// A workshop's state and version as the nodes share it, with the id of its last event (to
    /// follow it from there). `None` when there is no such workshop, and always on a node alone
    /// (it loaded every workshop at start-up).
    pub async fn shared_workshop(
        &self,
        id: &str,
    ) -> Result<Option<(u64, String, String)>, StoreError> {
        let Backend::Cluster(redis) = self else {
            return Ok(None);
        };
        let Some((version, state)) = redis.workshop(id).await? else {
            return Ok(None);
        };
        let last_event = redis.last_event_id(id).await?;
        Ok(Some((version, state, last_event)))
    }

    /// The newest state of a workshop another node may have changed (`None` on a node alone,
    /// whose state is the only one).
    pub async fn newer_workshop(&self, id: &str) -> Result<Option<(u64, String)>, StoreError> {
        match self {
            Backend::Local(_) => Ok(None),
            Backend::Cluster(redis) => redis.workshop(id).await,
        }
    }

    /// Stores a new workshop at version `version`.
    pub async fn create_workshop(
        &self,
        id: &str,
        version: u64,
        state: String,
    ) -> Result<(), StoreError> {
        match self.store_workshop(id, version, state, None).await? {
            true => Ok(()),
            false => Err(StoreError::Unavailable(
                "a workshop with this id exists already".into(),
            )),
        }
    }

    /// Stores a workshop's state at `version`. With several nodes this is a compare-and-set on
    /// the version before it, and the change is announced to the other nodes (with the timer
    /// event it fired, if any, so that each node pushes it to its own clients): false when
    /// another node changed the workshop first.
    pub async fn store_workshop(
        &self,
        id: &str,
        version: u64,
        state: String,
        timer_event: Option<(u64, TimerEvent, u64)>,
    ) -> Result<bool, StoreError> {
        match self {
            Backend::Local(store) => {
                let write = Write::Workshop {
                    id: id.to_owned(),
                    version,
                    state,
                };
                store.write(write).await.map(|()| true)
            }
            Backend::Cluster(redis) => {
                let fields = crate::cluster::timer_fields(timer_event, &redis.node);
                redis.put_workshop(id, version, &state, &fields).await
            }
        }
    }

    /// Starts following the changes other nodes make to `workshop` (nothing on a node alone).
    pub fn follow_workshop(
        &self,
        workshop: &Arc<Workshop>,
        last_event: String,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) {
        if let Backend::Cluster(redis) = self {
            crate::cluster::follow_workshop(redis, workshop, last_event, tracker, shutdown);
        }
    }

    /// Whether edits can be stored now, or why not (`/readyz`).
    pub fn ready(&self) -> Result<(), &'static str> {
        match self {
            Backend::Local(store) => store.ready(),
            Backend::Cluster(redis) if redis.healthy() => Ok(()),
            Backend::Cluster(_) => Err("redis unavailable"),
        }
    }

    /// Stops what runs beside the rooms, once nothing writes any more: the store (queued
    /// writes committed, its threads joined) or the Redis reader and health tasks.
    pub async fn close(&self) {
        match self {
            Backend::Local(store) => {
                if let Err(e) = store.close().await {
                    warn!(error = %e, "closing the store failed");
                }
            }
            Backend::Cluster(redis) => redis.stopped().await,
        }
    }
}
