//! Shared server state: a cheap-to-clone handle around `Arc<Shared>`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use plenary_protocol::Role;
use rand::Rng;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Auth;
use crate::backend::Backend;
use crate::clock::Clock;
use crate::config::Config;
use crate::store::StoreError;
use crate::workshop::{RoomCtx, Workshop, WorkshopData};

#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

pub struct Shared {
    pub config: Config,
    pub auth: Auth,
    pub clock: Clock,
    /// Workshops by id. A DashMap because every HTTP request and connection looks one up, and
    /// sharded locks keep those lookups from contending.
    pub workshops: DashMap<String, Arc<Workshop>>,
    /// Join codes (attendee and observer) to workshop id and the role they grant.
    pub codes: DashMap<String, (String, Role)>,
    /// One permit per open WebSocket; when none is left, upgrades get HTTP 503.
    pub connections: Arc<Semaphore>,
    pub next_conn: AtomicU64,
    pub shutdown: CancellationToken,
    /// Cancelled when shutdown's drain timeout has passed: what still runs is then aborted.
    pub drain_expired: CancellationToken,
    /// Every connection and room task, awaited (with a bound) on shutdown.
    pub tracker: TaskTracker,
    /// The embedded store, or (several nodes) Redis.
    pub backend: Backend,
    /// Which web pages may open a WebSocket (the `Origin` check).
    pub origins: crate::security::OriginPolicy,
}

/// Alphabet for join codes: no 0/O, 1/I/L, so codes survive being read aloud.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// A random id of `len` lowercase letters and digits.
pub fn random_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn random_code() -> String {
    let mut rng = rand::rng();
    (0..8)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

impl AppState {
    pub fn new(config: Config, auth: Auth, backend: Backend, shutdown: CancellationToken) -> Self {
        AppState(Arc::new(Shared {
            origins: crate::security::OriginPolicy::from_config(&config),
            connections: Arc::new(Semaphore::new(config.max_connections)),
            config,
            auth,
            clock: Clock::new(),
            workshops: DashMap::new(),
            codes: DashMap::new(),
            next_conn: AtomicU64::new(1),
            shutdown,
            drain_expired: CancellationToken::new(),
            tracker: TaskTracker::new(),
            backend,
        }))
    }

    pub fn next_conn_id(&self) -> u64 {
        self.0.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// A join code not in use yet (entry API: check and insert are one step; with several
    /// nodes the backend then decides across them).
    async fn claim_code(
        &self,
        workshop: &str,
        role: Role,
    ) -> Result<String, crate::workshop::Refusal> {
        loop {
            let code = random_code();
            if let dashmap::Entry::Vacant(v) = self.0.codes.entry(code.clone()) {
                v.insert((workshop.to_owned(), role));
            } else {
                continue;
            }
            match self.0.backend.claim_code(&code, workshop, role).await {
                Ok(true) => return Ok(code),
                Ok(false) => {
                    self.0.codes.remove(&code);
                }
                Err(e) => {
                    self.0.codes.remove(&code);
                    return Err(crate::workshop::Refusal {
                        code: plenary_protocol::ErrorCode::Unavailable,
                        message: e.to_string(),
                    });
                }
            }
        }
    }

    /// The workshop and role a join code gives, from this node or (several nodes) from the
    /// backend.
    pub async fn code(&self, code: &str) -> Result<Option<(String, Role)>, StoreError> {
        if let Some(found) = self.0.codes.get(code).map(|e| e.clone()) {
            return Ok(Some(found));
        }
        let found = self.0.backend.code(code).await?;
        if let Some((workshop, role)) = &found {
            self.0
                .codes
                .insert(code.to_owned(), (workshop.clone(), *role));
        }
        Ok(found)
    }

    fn room_ctx(&self) -> RoomCtx {
        RoomCtx {
            backend: self.0.backend.clone(),
            tracker: self.0.tracker.clone(),
            shutdown: self.0.shutdown.clone(),
            snapshot_every: self.0.config.snapshot_every(),
        }
    }

    /// Creates a workshop, stores it and returns it.
    pub async fn create_workshop(
        &self,
        title: String,
    ) -> Result<Arc<Workshop>, crate::workshop::Refusal> {
        let id = format!("w-{}", random_id(12));
        let join_code = self.claim_code(&id, Role::Attendee).await?;
        let observer_code = self.claim_code(&id, Role::Observer).await?;
        let data = WorkshopData::new(title, join_code.clone(), observer_code.clone());
        let workshop = Workshop::start(
            id.clone(),
            data,
            Default::default(),
            self.0.clock,
            self.room_ctx(),
        );
        if let Err(e) = workshop.save().await {
            self.0.codes.remove(&join_code);
            self.0.codes.remove(&observer_code);
            return Err(e);
        }
        workshop.follow_events("0".into());
        self.0.workshops.insert(id, workshop.clone());
        Ok(workshop)
    }

    /// Starts every workshop the store holds. Returns how many workshops and rooms it started.
    pub fn restore(&self, loaded: crate::store::Loaded) -> anyhow::Result<(usize, usize)> {
        let mut rooms = 0;
        let mut workshops = 0;
        for (id, (state, records)) in loaded.workshops {
            let data: WorkshopData = serde_json::from_str(&state)
                .map_err(|e| anyhow::anyhow!("workshop {id} in the store is unreadable: {e}"))?;
            self.0
                .codes
                .insert(data.join_code.clone(), (id.clone(), Role::Attendee));
            self.0
                .codes
                .insert(data.observer_code.clone(), (id.clone(), Role::Observer));
            rooms += data.rooms.len();
            workshops += 1;
            let workshop =
                Workshop::start(id.clone(), data, records, self.0.clock, self.room_ctx());
            self.0.workshops.insert(id, workshop);
        }
        Ok((workshops, rooms))
    }

    /// The workshop, started on this node if it runs here, or (several nodes) loaded from the
    /// backend. `Ok(None)`: there is no such workshop; `Err`: the backend could not tell (retry
    /// later).
    pub async fn workshop(&self, id: &str) -> Result<Option<Arc<Workshop>>, StoreError> {
        if let Some(w) = self.0.workshops.get(id).map(|w| w.clone()) {
            return Ok(Some(w));
        }
        let Some((version, json, last_event)) = self.0.backend.shared_workshop(id).await? else {
            return Ok(None);
        };
        let mut data: WorkshopData = serde_json::from_str(&json).map_err(|e| {
            StoreError::Corrupt(format!("shared workshop {id} does not decode: {e}"))
        })?;
        data.version = version;
        Ok(match self.0.workshops.entry(id.to_owned()) {
            dashmap::Entry::Occupied(o) => Some(o.get().clone()),
            dashmap::Entry::Vacant(v) => {
                let workshop = Workshop::start(
                    id.to_owned(),
                    data,
                    Default::default(),
                    self.0.clock,
                    self.room_ctx(),
                );
                workshop.follow_events(last_event);
                v.insert(workshop.clone());
                Some(workshop)
            }
        })
    }
}
