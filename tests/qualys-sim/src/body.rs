//! Response bodies as streams of chunks, and the adapters that faults put around them.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, Stream, StreamExt};

use crate::state::InFlightGuard;

/// A response body: chunks sent as they are produced.
pub(crate) type BodyStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Returns a body of one chunk, or of no chunk when `bytes` is empty.
pub(crate) fn from_bytes(bytes: Bytes) -> BodyStream {
    if bytes.is_empty() {
        Box::pin(stream::empty())
    } else {
        Box::pin(stream::once(async move { Ok(bytes) }))
    }
}

/// Returns a body whose chunks an iterator renders one at a time, as the client reads them.
pub(crate) fn from_chunks<I>(chunks: I) -> BodyStream
where
    I: Iterator<Item = String> + Send + 'static,
{
    Box::pin(stream::iter(chunks.map(|chunk| Ok(Bytes::from(chunk)))))
}

/// Reads a whole body into memory.
pub(crate) async fn collect(mut body: BodyStream) -> io::Result<Bytes> {
    let mut all = BytesMut::new();
    while let Some(chunk) = body.next().await {
        all.extend_from_slice(&chunk?);
    }
    Ok(all.freeze())
}

/// Sends `prefix` as a chunk of its own, waits for `pause`, then sends `rest`.
pub(crate) fn prefix_with_pause(prefix: Bytes, pause: Duration, rest: BodyStream) -> BodyStream {
    let first = stream::once(async move { Ok(prefix) });
    let wait = stream::once(async move {
        tokio::time::sleep(pause).await;
    })
    .filter_map(|()| async { None });
    Box::pin(first.chain(wait).chain(rest))
}

/// Re-cuts a body into chunks of at most `chunk_bytes` bytes (at least 1) and waits `delay`
/// before each chunk after the first.
pub(crate) fn rechunk_slowly(body: BodyStream, chunk_bytes: usize, delay: Duration) -> BodyStream {
    struct Slow {
        inner: BodyStream,
        pending: Bytes,
        chunk_bytes: usize,
        delay: Duration,
        started: bool,
    }

    let slow = Slow {
        inner: body,
        pending: Bytes::new(),
        chunk_bytes: chunk_bytes.max(1),
        delay,
        started: false,
    };
    Box::pin(stream::unfold(slow, |mut slow| async move {
        while slow.pending.is_empty() {
            match slow.inner.next().await {
                None => return None,
                Some(Err(error)) => return Some((Err(error), slow)),
                Some(Ok(chunk)) => slow.pending = chunk,
            }
        }
        let size = slow.chunk_bytes.min(slow.pending.len());
        let piece = slow.pending.split_to(size);
        if slow.started {
            tokio::time::sleep(slow.delay).await;
        }
        slow.started = true;
        Some((Ok(piece), slow))
    }))
}

/// Sends the first `after_bytes` bytes of `full` and then fails, which makes hyper drop the
/// connection before the body is complete. At least one byte is always withheld.
///
/// hyper 1 buffers the head and the first chunk, and discards that buffer when the body fails
/// before it was flushed (the cut test saw no head at all without the pause). The failure therefore comes after [`CUT_FLUSH_PAUSE`], during
/// which hyper flushes what it has.
pub(crate) fn cut_after(full: Bytes, after_bytes: usize) -> BodyStream {
    let sent = after_bytes.min(full.len().saturating_sub(1));
    let head = full.slice(..sent);
    let total = full.len();
    let failure = stream::once(async move {
        tokio::time::sleep(CUT_FLUSH_PAUSE).await;
        Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            format!("simulated connection cut after {sent} of {total} bytes"),
        ))
    });
    Box::pin(stream::once(async move { Ok(head) }).chain(failure))
}

/// Pause before [`cut_after`] fails the body.
const CUT_FLUSH_PAUSE: Duration = Duration::from_millis(50);

/// Keeps a request counted as in flight until its body ends.
///
/// The guard is released when the body returns its end or an error, or when hyper drops the
/// body (client gone). When the length is known it is released with the last chunk, because
/// hyper may not poll for the end once `Content-Length` bytes were sent, and the client must
/// not see the whole response while the request still counts.
pub(crate) struct Guarded {
    inner: BodyStream,
    guard: Option<InFlightGuard>,
    remaining: Option<u64>,
}

impl Guarded {
    pub(crate) fn new(inner: BodyStream, guard: InFlightGuard, length: Option<u64>) -> Self {
        let guard = if length == Some(0) { None } else { Some(guard) };
        Self {
            inner,
            guard,
            remaining: length,
        }
    }
}

impl Stream for Guarded {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let polled = this.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(remaining) = &mut this.remaining {
                    *remaining = remaining.saturating_sub(chunk.len() as u64);
                    if *remaining == 0 {
                        this.guard = None;
                    }
                }
            }
            Poll::Ready(Some(Err(_)) | None) => this.guard = None,
            Poll::Pending => {}
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn chunks_of(body: BodyStream) -> Vec<io::Result<Bytes>> {
        body.collect().await
    }

    #[tokio::test]
    async fn rechunk_keeps_bytes() {
        let body = from_chunks(vec!["abcde".to_string(), "fg".to_string()].into_iter());
        let chunks = chunks_of(rechunk_slowly(body, 2, Duration::from_millis(1))).await;
        let texts: Vec<Bytes> = chunks.into_iter().map(|c| c.expect("chunk")).collect();
        assert_eq!(
            texts,
            ["ab", "cd", "e", "fg"].map(|s: &'static str| Bytes::from_static(s.as_bytes()))
        );
    }

    #[tokio::test]
    async fn cut_withholds_rest() {
        let chunks = chunks_of(cut_after(Bytes::from_static(b"hello"), 3)).await;
        assert_eq!(chunks.len(), 2);
        assert_eq!(
            chunks[0].as_ref().expect("head"),
            &Bytes::from_static(b"hel")
        );
        assert!(chunks[1].is_err(), "second item is not an error");

        let too_far = chunks_of(cut_after(Bytes::from_static(b"hello"), 99)).await;
        assert_eq!(too_far[0].as_ref().expect("head").len(), 4);
    }

    #[tokio::test]
    async fn prefix_comes_first() {
        let body = prefix_with_pause(
            Bytes::from_static(b"  "),
            Duration::from_millis(1),
            from_bytes(Bytes::from_static(b"<x/>")),
        );
        let all = collect(body).await.expect("body");
        assert_eq!(all, Bytes::from_static(b"  <x/>"));
    }
}
