//! JSON REST endpoints: create a workshop, join it, read its summary; health and readiness.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use plenary_protocol::templates::Progress;
use plenary_protocol::workshop::RoomKind;
use plenary_protocol::{ErrorCode, Role};
use serde::{Deserialize, Serialize};

use crate::auth::{AuthError, Claims};
use crate::state::{random_id, AppState};
use crate::store::StoreError;
use crate::workshop::Refusal;

/// An API error: an HTTP status and a JSON body `{code, message}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            code: ErrorCode,
            message: &'a str,
        }
        (
            self.status,
            Json(Body {
                code: self.code,
                message: &self.message,
            }),
        )
            .into_response()
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        let status = match r.code {
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, r.code, r.message)
    }
}

/// A body that is not the expected JSON: the status axum chose, with a `malformed` body.
fn malformed(rejection: JsonRejection) -> ApiError {
    ApiError::new(
        rejection.status(),
        ErrorCode::Malformed,
        rejection.body_text(),
    )
}

/// The shared store could not answer: 503 `unavailable`, retry later.
fn unavailable(e: StoreError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Unavailable,
        e.to_string(),
    )
}

/// The workshop `id`: 404 `not_found` with `missing` when there is none, 503 `unavailable` when
/// the shared store cannot tell.
async fn find_workshop(
    app: &AppState,
    id: &str,
    missing: &'static str,
) -> Result<std::sync::Arc<crate::workshop::Workshop>, ApiError> {
    app.workshop(id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, missing))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidCommand, message)
}

fn clean_name(what: &str, s: &str, max: usize) -> Result<String, ApiError> {
    let s = s.trim();
    let n = s.chars().count();
    if n == 0 || n > max || s.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what} must be 1 to {max} printable characters"
        )));
    }
    Ok(s.to_owned())
}

#[derive(Deserialize)]
pub struct CreateWorkshop {
    title: String,
    #[serde(default)]
    facilitator_name: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub struct Created {
    pub workshop_id: String,
    pub participant_id: String,
    pub facilitator_token: String,
    pub join_code: String,
    pub join_link: String,
    pub observer_code: String,
    pub observer_link: String,
}

fn base_url(app: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &app.0.config.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| app.0.config.bind.to_string());
    format!("http://{host}")
}

fn token_for(app: &AppState, workshop: &str, participant: &str, role: Role) -> String {
    let exp = app.0.clock.now_ms() + app.0.config.token_ttl_hours * 3_600_000;
    app.0.auth.sign(&Claims {
        w: workshop.to_owned(),
        p: participant.to_owned(),
        r: role,
        exp,
    })
}

/// `POST /api/workshops`
pub async fn create_workshop(
    State(app): State<AppState>,
    headers: HeaderMap,
    req: Result<Json<CreateWorkshop>, JsonRejection>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let Json(req) = req.map_err(malformed)?;
    let title = clean_name("title", &req.title, 200)?;
    let name = clean_name(
        "facilitator_name",
        req.facilitator_name.as_deref().unwrap_or("Facilitator"),
        60,
    )?;
    let workshop = app.create_workshop(title).await?;
    let participant = workshop
        .add_participant(format!("p-{}", random_id(10)), name, Role::Facilitator)
        .await?;
    let (join_code, observer_code) = {
        let s = workshop.lock();
        (s.data.join_code.clone(), s.data.observer_code.clone())
    };
    let base = base_url(&app, &headers);
    tracing::info!(workshop = %workshop.id, "workshop created");
    Ok((
        StatusCode::CREATED,
        Json(Created {
            facilitator_token: token_for(&app, &workshop.id, &participant.id, Role::Facilitator),
            participant_id: participant.id,
            // In the fragment: browsers never send it, so no server or proxy log holds a code.
            join_link: format!("{base}/#join={join_code}"),
            observer_link: format!("{base}/#join={observer_code}"),
            workshop_id: workshop.id.clone(),
            join_code,
            observer_code,
        }),
    ))
}

#[derive(Deserialize)]
pub struct JoinRequest {
    code: String,
    name: String,
}

#[derive(Serialize, Deserialize)]
pub struct Joined {
    pub workshop_id: String,
    pub participant_id: String,
    pub role: Role,
    pub token: String,
}

/// `POST /api/join`
pub async fn join(
    State(app): State<AppState>,
    req: Result<Json<JoinRequest>, JsonRejection>,
) -> Result<Json<Joined>, ApiError> {
    let Json(req) = req.map_err(malformed)?;
    let name = clean_name("name", &req.name, 60)?;
    let code = req.code.trim().to_ascii_uppercase();
    let found = app.code(&code).await.map_err(unavailable)?;
    let Some((workshop_id, role)) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no workshop has this join code",
        ));
    };
    let workshop = find_workshop(&app, &workshop_id, "the workshop is gone").await?;
    let participant = workshop
        .add_participant(format!("p-{}", random_id(10)), name, role)
        .await?;
    Ok(Json(Joined {
        token: token_for(&app, &workshop.id, &participant.id, role),
        workshop_id: workshop.id.clone(),
        participant_id: participant.id,
        role,
    }))
}

#[derive(Serialize, Deserialize)]
pub struct RoomSummary {
    pub id: String,
    pub name: String,
    pub kind: RoomKind,
    pub seq: u64,
    pub members: usize,
    /// Who is connected to the room (on any node).
    pub present: Vec<plenary_protocol::Member>,
    pub progress: Progress,
}

#[derive(Serialize, Deserialize)]
pub struct Summary {
    pub id: String,
    pub title: String,
    pub participants: usize,
    pub rooms: Vec<RoomSummary>,
    pub breakouts_open: bool,
    /// Facilitators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observer_code: Option<String>,
}

/// Verifies a bearer token for `workshop_id`.
fn authorize(app: &AppState, headers: &HeaderMap, workshop_id: &str) -> Result<Claims, ApiError> {
    let unauthorized =
        |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, m);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("send Authorization: Bearer <token>"))?;
    let claims = app
        .0
        .auth
        .verify(token, app.0.clock.now_ms())
        .map_err(|e| match e {
            AuthError::Expired => unauthorized("token has expired"),
            _ => unauthorized("token is invalid"),
        })?;
    if claims.w != workshop_id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "token is for another workshop",
        ));
    }
    Ok(claims)
}

/// `GET /api/workshops/{id}`: rooms with member counts and progress.
pub async fn summary(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Summary>, ApiError> {
    let claims = authorize(&app, &headers, &id)?;
    let workshop = find_workshop(&app, &id, "no such workshop").await?;
    if workshop.participant(&claims.p).is_none() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "participant was removed",
        ));
    }
    let facilitator = claims.r == Role::Facilitator;
    let mut rooms = Vec::new();
    // Each participant sees the rooms it may read; the facilitator sees all of them.
    let me = workshop.participant(&claims.p);
    let handles = workshop.room_handles();
    let readable: Vec<_> = {
        let state = workshop.lock();
        handles
            .into_iter()
            .filter(|(info, _)| me.as_ref().is_some_and(|p| state.may_read(p, &info.id)))
            .collect()
    };
    for (info, handle) in readable {
        if let Some(report) = handle.inspect().await {
            rooms.push(RoomSummary {
                id: info.id,
                name: info.name,
                kind: info.kind,
                seq: report.seq,
                members: report.members.len(),
                present: report.members,
                progress: report.progress,
            });
        }
    }
    let state = workshop.lock();
    let d = &state.data;
    Ok(Json(Summary {
        id: workshop.id.clone(),
        title: d.title.clone(),
        participants: d.participants.iter().filter(|p| !p.removed).count(),
        rooms,
        breakouts_open: d.breakouts_open,
        join_code: facilitator.then(|| d.join_code.clone()),
        observer_code: facilitator.then(|| d.observer_code.clone()),
    }))
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the server can take writes.
pub async fn readyz(State(app): State<AppState>) -> Response {
    if app.0.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    if let Err(why) = app.0.backend.ready() {
        return (StatusCode::SERVICE_UNAVAILABLE, why).into_response();
    }
    "ready".into_response()
}
