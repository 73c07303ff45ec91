//! Upstream response bodies on their way to the client, with an idle
//! timeout: an upstream that stops sending in the middle of a body (a hung
//! render, a dead peer) fails the response instead of holding the client
//! connection forever. Like nginx's `proxy_read_timeout`, it measures the gap
//! between frames, not the whole transfer, so long streams are fine.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// The error a body reports when its upstream went quiet for too long.
#[derive(Debug, thiserror::Error)]
#[error("upstream sent nothing for {0:?} in the middle of a response body")]
pub struct BodyIdleTimeout(pub Duration);

pin_project_lite::pin_project! {
    pub struct IdleTimeout<B> {
        #[pin]
        inner: B,
        // Armed the first time the body has to wait: a small body that is
        // ready at once (most responses) never touches the timer wheel or
        // the clock. The silence is counted from then, and from each frame
        // after it.
        deadline: Option<Pin<Box<Sleep>>>,
        idle: Duration,
        // The last frame since the deadline was armed (or the arming).
        last_frame: Option<Instant>,
    }
}

impl<B> IdleTimeout<B> {
    pub fn new(inner: B, idle: Duration) -> Self {
        IdleTimeout {
            inner,
            deadline: None,
            idle,
            last_frame: None,
        }
    }
}

impl<B> Body for IdleTimeout<B>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            if this.deadline.is_some() {
                // Only a timestamp per frame; the timer is re-armed when it fires.
                *this.last_frame = Some(Instant::now());
            }
            return Poll::Ready(frame.map(|result| result.map_err(Into::into)));
        }
        let idle = *this.idle;
        let last_frame = this.last_frame;
        let deadline = this.deadline.get_or_insert_with(|| {
            let now = Instant::now();
            *last_frame = Some(now);
            Box::pin(tokio::time::sleep_until(now + idle))
        });
        loop {
            if deadline.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let due = last_frame.map_or_else(Instant::now, |at| at + idle);
            if Instant::now() >= due {
                return Poll::Ready(Some(Err(Box::new(BodyIdleTimeout(*this.idle)))));
            }
            deadline.as_mut().reset(due);
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
