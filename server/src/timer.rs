//! One task per workshop that fires its exercise timer: the warning near the end, then expiry.
//! Deadlines live in workshop state; this task only sleeps until the next one and asks the
//! workshop to fire it, which is idempotent.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::workshop::Workshop;

pub async fn run(workshop: Arc<Workshop>, shutdown: CancellationToken) {
    loop {
        let next = workshop.lock().next_timer_event();
        let changed = workshop.timer_changed().notified();
        match next {
            Some((timer, at_ms)) => {
                let at = workshop.clock.instant_at(at_ms);
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => workshop.fire_timer(timer).await,
                    _ = changed => {}
                    _ = shutdown.cancelled() => return,
                }
            }
            None => {
                tokio::select! {
                    _ = changed => {}
                    _ = shutdown.cancelled() => return,
                }
            }
        }
    }
}
