//! A connection's outbound queue, bounded in bytes.
//!
//! Producers (room actors, the workshop) never wait on a connection: [`Outbox::push`] either
//! queues the frame at once or, when the queued bytes would exceed the bound, marks the
//! connection as a slow consumer and queues a close frame instead (policy: close with
//! [`close::SLOW_CONSUMER`], the client reconnects and catches up). Nothing is dropped
//! silently. One writer task drains the queue into the socket.
//!
//! Snapshots and catch-up ops, which answer joins, go outside that bound
//! ([`Outbox::push_unbounded`]) but within a budget of their own, [`UNBOUNDED_FACTOR`] times the
//! bound: one of them always fits, so no room is too big to join, and a client that sends joins
//! without reading the answers is closed like any slow consumer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use plenary_protocol::close;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Frames outside the bound may queue up to this many times the bound in all (always at least
/// one frame): 16 MiB at the default 1 MiB.
pub const UNBOUNDED_FACTOR: usize = 16;

/// What the writer task sends next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(Utf8Bytes),
    /// A frame that does not count toward the bound (a snapshot the client asked for).
    Unbounded(Utf8Bytes),
    /// Send a close frame with this code and reason, then stop.
    Close(u16, &'static str),
}

/// Why a push did not queue the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// This push overflowed the bound; the connection is now closing as a slow consumer.
    Overflow,
    /// The connection was already closing.
    Closed,
}

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Frame>,
    /// Bytes of the queued `Text` frames (the bound).
    bytes: usize,
    /// Bytes of the queued `Unbounded` frames (their budget).
    unbounded_bytes: usize,
    /// Set once a close frame is queued; later pushes are refused.
    closing: bool,
    /// The code of that close frame.
    close_code: Option<u16>,
}

impl Queue {
    fn pop_front(&mut self) -> Option<Frame> {
        let frame = self.frames.pop_front()?;
        match &frame {
            Frame::Text(t) => self.bytes -= t.len(),
            Frame::Unbounded(t) => self.unbounded_bytes -= t.len(),
            Frame::Close(..) => {}
        }
        Some(frame)
    }

    /// Drops what is queued and queues the slow-consumer close instead.
    fn overflow(&mut self) {
        // The client will resync from its resume point anyway, and the close frame should not
        // wait behind a megabyte of stale updates.
        self.frames.clear();
        self.bytes = 0;
        self.unbounded_bytes = 0;
        self.closing = true;
        self.close_code = Some(close::SLOW_CONSUMER);
        self.frames
            .push_back(Frame::Close(close::SLOW_CONSUMER, "slow consumer"));
    }
}

#[derive(Debug)]
struct Inner {
    /// A std mutex: it is only held to push or pop, never across an `.await`.
    queue: Mutex<Queue>,
    /// Wakes the single writer task. `notify_one` stores a permit, so no wake-up is lost.
    notify: Notify,
    /// Cancelled once a close frame is queued, so that the connection's reader stops at once
    /// (and its member leaves presence) instead of when the close frame gets through.
    closed: CancellationToken,
    limit: usize,
}

/// A cheap-to-clone handle to one connection's outbound queue.
#[derive(Debug, Clone)]
pub struct Outbox(Arc<Inner>);

impl Outbox {
    pub fn new(limit_bytes: usize) -> Self {
        Outbox(Arc::new(Inner {
            queue: Mutex::new(Queue::default()),
            notify: Notify::new(),
            closed: CancellationToken::new(),
            limit: limit_bytes,
        }))
    }

    /// Queues a text frame without waiting.
    pub fn push(&self, text: Utf8Bytes) -> Result<(), PushError> {
        let mut q = self.0.queue.lock().expect("outbox lock poisoned");
        if q.closing {
            return Err(PushError::Closed);
        }
        if q.bytes + text.len() > self.0.limit {
            return self.overflow(q);
        }
        q.bytes += text.len();
        q.frames.push_back(Frame::Text(text));
        drop(q);
        self.0.notify.notify_one();
        Ok(())
    }

    /// Queues a frame that does not count toward the bound: a snapshot or catch-up op, which
    /// the client asked for and whose size the room limits bound. Such frames have a budget of
    /// their own ([`UNBOUNDED_FACTOR`] times the bound); the first one queued always fits, and
    /// one beyond the budget closes the connection as a slow consumer.
    pub fn push_unbounded(&self, text: Utf8Bytes) -> Result<(), PushError> {
        let mut q = self.0.queue.lock().expect("outbox lock poisoned");
        if q.closing {
            return Err(PushError::Closed);
        }
        let budget = self.0.limit.saturating_mul(UNBOUNDED_FACTOR);
        if q.unbounded_bytes > 0 && q.unbounded_bytes + text.len() > budget {
            return self.overflow(q);
        }
        q.unbounded_bytes += text.len();
        q.frames.push_back(Frame::Unbounded(text));
        drop(q);
        self.0.notify.notify_one();
        Ok(())
    }

    /// Drops what is queued, queues the slow-consumer close and stops the connection's reader.
    fn overflow(&self, mut q: MutexGuard<'_, Queue>) -> Result<(), PushError> {
        q.overflow();
        drop(q);
        self.0.notify.notify_one();
        self.0.closed.cancel();
        Err(PushError::Overflow)
    }

    /// Queues a close frame after what is already queued. Idempotent: the first close wins.
    pub fn close(&self, code: u16, reason: &'static str) {
        let mut q = self.0.queue.lock().expect("outbox lock poisoned");
        if q.closing {
            return;
        }
        q.closing = true;
        q.close_code = Some(code);
        q.frames.push_back(Frame::Close(code, reason));
        drop(q);
        self.0.notify.notify_one();
        self.0.closed.cancel();
    }

    /// Cancelled once a close frame is queued (by [`Outbox::close`] or an overflow).
    pub fn closed(&self) -> &CancellationToken {
        &self.0.closed
    }

    /// The code of the close frame queued (or sent), once there is one.
    pub fn close_code(&self) -> Option<u16> {
        self.0
            .queue
            .lock()
            .expect("outbox lock poisoned")
            .close_code
    }

    pub fn is_closing(&self) -> bool {
        self.0.queue.lock().expect("outbox lock poisoned").closing
    }

    /// Bytes currently queued.
    pub fn queued_bytes(&self) -> usize {
        self.0.queue.lock().expect("outbox lock poisoned").bytes
    }

    /// Waits for the next frame. Only the connection's writer task calls this.
    pub async fn pop(&self) -> Frame {
        loop {
            {
                let mut q = self.0.queue.lock().expect("outbox lock poisoned");
                if let Some(frame) = q.pop_front() {
                    return frame;
                }
            }
            self.0.notify.notified().await;
        }
    }

    /// Moves frames that are already queued into `batch`, up to `max` frames in all, without
    /// waiting. A close frame ends the batch.
    pub fn pop_ready(&self, batch: &mut Vec<Frame>, max: usize) {
        let mut q = self.0.queue.lock().expect("outbox lock poisoned");
        while batch.len() < max && !matches!(batch.last(), Some(Frame::Close(..))) {
            let Some(frame) = q.pop_front() else {
                break;
            };
            batch.push(frame);
        }
    }

    /// Takes every queued frame without waiting (tests and in-process consumers).
    pub fn drain(&self) -> Vec<Frame> {
        let mut q = self.0.queue.lock().expect("outbox lock poisoned");
        q.bytes = 0;
        q.unbounded_bytes = 0;
        q.frames.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_closes_with_slow_consumer() {
        let outbox = Outbox::new(10);
        assert_eq!(outbox.push("12345".into()), Ok(()));
        assert_eq!(outbox.push("12345".into()), Ok(()));
        assert_eq!(outbox.queued_bytes(), 10);
        assert_eq!(outbox.push("1".into()), Err(PushError::Overflow));
        assert_eq!(outbox.push("1".into()), Err(PushError::Closed));
        assert_eq!(
            outbox.drain(),
            vec![Frame::Close(close::SLOW_CONSUMER, "slow consumer")]
        );
    }

    #[test]
    fn frames_outside_the_bound_have_a_budget_of_their_own() {
        let outbox = Outbox::new(10);
        // The first one always fits, however big; the budget is 16 x 10 bytes.
        assert_eq!(outbox.push_unbounded("x".repeat(500).into()), Ok(()));
        assert_eq!(outbox.push("12345".into()), Ok(()), "the bound is apart");
        assert!(matches!(
            outbox.drain().as_slice(),
            [Frame::Unbounded(_), Frame::Text(_)]
        ));
        for _ in 0..16 {
            assert_eq!(outbox.push_unbounded("0123456789".into()), Ok(()));
        }
        assert_eq!(outbox.push_unbounded("x".into()), Err(PushError::Overflow));
        assert_eq!(
            outbox.drain(),
            vec![Frame::Close(close::SLOW_CONSUMER, "slow consumer")]
        );
    }

    #[tokio::test]
    async fn pop_waits_for_push() {
        let outbox = Outbox::new(100);
        let o2 = outbox.clone();
        let task = tokio::spawn(async move { o2.pop().await });
        tokio::task::yield_now().await;
        outbox.push("hi".into()).unwrap();
        assert_eq!(task.await.unwrap(), Frame::Text("hi".into()));
        outbox.close(1000, "bye");
        outbox.close(4004, "ignored");
        assert_eq!(outbox.pop().await, Frame::Close(1000, "bye"));
    }
}
