//! One task per workshop that fires its exercise timer: the warning near the end, then expiry.
//! Deadlines live in workshop state; this task only sleeps until the next one and asks the
//! workshop to fire it, which is idempotent.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::workshop::Workshop;

/// Pause before retrying a timer event the store refused.
const RETRY: std::time::Duration = std::time::Duration::from_secs(1);

pub async fn run(workshop: Arc<Workshop>, shutdown: CancellationToken) {
    loop {
        let next = workshop.lock().next_timer_event();
        let changed = workshop.timer_changed().notified();
        match next {
            Some((timer, at_ms)) => {
                let at = workshop.clock.instant_at(at_ms);
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {
                        if !workshop.fire_timer(timer).await {
                            // The store refused the event: retry later instead of spinning.
                            tokio::select! {
                                _ = tokio::time::sleep(RETRY) => {}
                                _ = shutdown.cancelled() => return,
                            }
                        }
                    }
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
