//! Exercise timers under paused tokio time: the warning, extension, expiry with auto-close,
//! stop, and idempotent firing.

use std::sync::Arc;
use std::time::Duration;

use plenary_protocol::workshop::{Command, TimerState, WorkshopView};
use plenary_protocol::{Role, ServerMsg, TimerEvent};
use plenary_server::backend::Backend;
use plenary_server::clock::Clock;
use plenary_server::outbox::{Frame, Outbox};
use plenary_server::store::MemoryStore;
use plenary_server::workshop::{RoomCtx, Workshop, WorkshopData};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

async fn workshop() -> (Arc<Workshop>, String, Outbox, WorkshopView) {
    let ctx = RoomCtx {
        backend: Backend::Local(Arc::new(MemoryStore)),
        tracker: TaskTracker::new(),
        shutdown: CancellationToken::new(),
        snapshot_every: std::time::Duration::from_secs(30),
    };
    let data = WorkshopData::new("Timers".into(), "JOIN".into(), "OBSV".into());
    let w = Workshop::start("w-test".into(), data, Default::default(), Clock::new(), ctx);
    let fac = w
        .add_participant("p-fac".into(), "Fran".into(), Role::Facilitator)
        .await
        .unwrap();
    let outbox = Outbox::new(1 << 20);
    let mut welcome = None;
    w.attach(1, &fac, outbox.clone(), |view| {
        welcome = Some(view);
        ServerMsg::Done { req: None }
    });
    let view = welcome.expect("attach builds a welcome");
    (w, fac.id, outbox, view)
}

/// Timer events in what the outbox received since the last call, and the view (`seen`, with
/// the patches received applied) if a patch came.
fn received(
    outbox: &Outbox,
    seen: &mut WorkshopView,
) -> (Vec<(TimerEvent, u64)>, Option<WorkshopView>) {
    let mut events = Vec::new();
    let mut view = None;
    for frame in outbox.drain() {
        let Frame::Text(t) = frame else { continue };
        match serde_json::from_str::<ServerMsg>(&t).unwrap() {
            ServerMsg::Timer {
                event,
                remaining_ms,
                ..
            } => events.push((event, remaining_ms)),
            ServerMsg::WorkshopPatch { patch } => {
                seen.apply(patch);
                view = Some(seen.clone());
            }
            _ => {}
        }
    }
    (events, view)
}

fn exercise(secs: u64, warning: u64, auto_close: bool) -> Command {
    Command::BroadcastExercise {
        title: "Backlog refinement".into(),
        instructions: String::new(),
        timebox_secs: secs,
        template: None,
        rooms: None,
        auto_close,
        warning_secs: Some(warning),
    }
}

#[tokio::test(start_paused = true)]
async fn warning_extension_and_expiry_with_auto_close() {
    let (w, fac, outbox, mut seen) = workshop().await;
    w.command(
        &fac,
        Command::CreateBreakouts {
            names: vec!["A".into(), "B".into()],
        },
    )
    .await
    .unwrap();
    w.command(&fac, Command::OpenBreakouts).await.unwrap();
    w.command(&fac, exercise(60, 10, true)).await.unwrap();
    let (events, view) = received(&outbox, &mut seen);
    assert!(events.is_empty());
    let timer = view.unwrap().timer.unwrap();
    assert_eq!(timer.state, TimerState::Running);
    assert_eq!(timer.deadline_ms - w.clock.now_ms(), 60_000);

    tokio::time::sleep(Duration::from_millis(49_900)).await;
    assert!(
        received(&outbox, &mut seen).0.is_empty(),
        "no warning before 50 s"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (events, view) = received(&outbox, &mut seen);
    assert_eq!(events, vec![(TimerEvent::Warning, 10_000)]);
    assert_eq!(view.unwrap().timer.unwrap().state, TimerState::Warned);

    // Extending by 30 s moves the deadline and re-arms the warning.
    w.command(&fac, Command::ExtendTimer { secs: 30 })
        .await
        .unwrap();
    let (_, view) = received(&outbox, &mut seen);
    assert_eq!(view.unwrap().timer.unwrap().state, TimerState::Running);
    tokio::time::sleep(Duration::from_millis(29_900)).await;
    assert!(received(&outbox, &mut seen).0.is_empty());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        received(&outbox, &mut seen).0,
        vec![(TimerEvent::Warning, 10_000)]
    );

    tokio::time::sleep(Duration::from_millis(10_000)).await;
    let (events, view) = received(&outbox, &mut seen);
    assert_eq!(events, vec![(TimerEvent::Expired, 0)]);
    let view = view.unwrap();
    assert_eq!(view.timer.as_ref().unwrap().state, TimerState::Expired);
    assert!(!view.breakouts_open, "auto-close recalls everyone");

    // Firing again (as a second node racing would) changes nothing and sends nothing.
    let id = view.timer.unwrap().id;
    w.fire_timer(id).await;
    w.fire_timer(id + 1).await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(received(&outbox, &mut seen).0.is_empty());
    assert_eq!(w.view().timer.unwrap().state, TimerState::Expired);
}

#[tokio::test(start_paused = true)]
async fn stopped_timer_never_fires_and_no_auto_close_keeps_breakouts() {
    let (w, fac, outbox, mut seen) = workshop().await;
    w.command(
        &fac,
        Command::CreateBreakouts {
            names: vec!["A".into()],
        },
    )
    .await
    .unwrap();
    w.command(&fac, Command::OpenBreakouts).await.unwrap();
    w.command(&fac, exercise(30, 5, true)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    w.command(&fac, Command::StopTimer).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let (events, _) = received(&outbox, &mut seen);
    assert!(
        events.is_empty(),
        "a stopped timer fires nothing: {events:?}"
    );
    assert!(w.view().breakouts_open);
    assert_eq!(
        w.command(&fac, Command::ExtendTimer { secs: 10 })
            .await
            .unwrap_err()
            .code,
        plenary_protocol::ErrorCode::Conflict
    );

    // Without auto-close, expiry leaves the breakouts open.
    w.command(&fac, exercise(20, 0, false)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(21)).await;
    let (events, _) = received(&outbox, &mut seen);
    assert_eq!(events, vec![(TimerEvent::Expired, 0)]);
    assert!(w.view().breakouts_open);
}

#[tokio::test(start_paused = true)]
async fn a_new_exercise_replaces_the_running_timer() {
    let (w, fac, outbox, mut seen) = workshop().await;
    w.command(&fac, exercise(100, 10, false)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(50)).await;
    w.command(&fac, exercise(20, 5, false)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(200)).await;
    let (events, view) = received(&outbox, &mut seen);
    // Only the second timer's events: warning at 15 s, expiry at 20 s.
    assert_eq!(
        events,
        vec![(TimerEvent::Warning, 5_000), (TimerEvent::Expired, 0)]
    );
    assert_eq!(view.unwrap().timer.unwrap().id, 2);
}
