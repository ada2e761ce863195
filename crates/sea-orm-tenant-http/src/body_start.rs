//! A response body's first frame, read while the request's tenant is current.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// What [`start_body`] found: whether the body still needs its tenant after
/// the handler's future has finished.
#[derive(Debug)]
pub enum BodyStart<E> {
    /// The body said it had ended before any read: send it as it is.
    Ended,
    /// The body ended with no frame.
    Empty,
    /// The whole body, one data frame: send these bytes.
    Whole(Bytes),
    /// The body goes on: the frame read (data, trailers or an error), if one
    /// was ready. The rest must be polled in the tenant.
    GoesOn(Option<Result<Frame<Bytes>, E>>),
}

/// Reads `body`'s first frame, if it is ready, so that a body complete in one
/// frame (every body built from bytes, a string or JSON) can be sent with no
/// tenant wrapper, and only a body that goes on (a stream, SSE) is polled in
/// its tenant later. Call it inside the request's tenant scope, in the poll
/// where the handler's response became ready.
pub fn start_body<B: Body<Data = Bytes>>(
    mut body: Pin<&mut B>,
    cx: &mut Context<'_>,
) -> BodyStart<B::Error> {
    if body.is_end_stream() {
        return BodyStart::Ended;
    }
    match body.as_mut().poll_frame(cx) {
        Poll::Ready(None) => BodyStart::Empty,
        Poll::Ready(Some(Ok(frame))) if body.is_end_stream() => match frame.into_data() {
            Ok(data) => BodyStart::Whole(data),
            Err(frame) => BodyStart::GoesOn(Some(Ok(frame))),
        },
        Poll::Ready(Some(frame)) => BodyStart::GoesOn(Some(frame)),
        Poll::Pending => BodyStart::GoesOn(None),
    }
}

/// The size hint of a body that [`start_body`] found going on: the frame it
/// read ahead (`first`), then the rest, whose own hint is `rest`. Wrappers
/// that send the frame first report this, so a known length is kept.
pub fn size_hint_with_first<E>(
    first: Option<&Result<Frame<Bytes>, E>>,
    rest: SizeHint,
) -> SizeHint {
    let first = match first {
        Some(Ok(frame)) => frame.data_ref().map_or(0, |d| d.len() as u64),
        _ => return rest,
    };
    let mut total = SizeHint::new();
    total.set_lower(rest.lower().saturating_add(first));
    if let Some(upper) = rest.upper() {
        total.set_upper(upper.saturating_add(first));
    }
    total
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::task::Waker;

    use futures_util::stream;
    use http_body_util::{Empty, Full, StreamBody};

    use super::*;

    fn start<B: Body<Data = Bytes> + Unpin>(mut body: B) -> BodyStart<B::Error> {
        start_body(Pin::new(&mut body), &mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_body_in_one_frame_comes_back_whole() {
        let BodyStart::Whole(data) = start(Full::new(Bytes::from_static(b"hello"))) else {
            panic!("not whole");
        };
        assert_eq!(&data[..], b"hello");
    }

    #[test]
    fn an_ended_body_is_left_as_it_is() {
        assert!(matches!(start(Empty::<Bytes>::new()), BodyStart::Ended));
    }

    #[test]
    fn a_stream_that_ends_without_a_frame_is_empty() {
        let frames = stream::iter(Vec::<Result<Frame<Bytes>, Infallible>>::new());
        assert!(matches!(start(StreamBody::new(frames)), BodyStart::Empty));
    }

    #[test]
    fn a_body_that_goes_on_keeps_its_first_frame() {
        let frames = stream::iter([
            Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"a"))),
            Ok(Frame::data(Bytes::from_static(b"b"))),
        ]);
        let BodyStart::GoesOn(Some(Ok(first))) = start(StreamBody::new(frames)) else {
            panic!("did not go on with a first frame");
        };
        assert_eq!(first.into_data().unwrap(), Bytes::from_static(b"a"));
    }

    #[test]
    fn the_frame_read_ahead_counts_in_the_size_hint() {
        let frame = Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"abc")));
        let hint = size_hint_with_first(Some(&frame), SizeHint::with_exact(4));
        assert_eq!(hint.exact(), Some(7));
        let mut open = SizeHint::new();
        open.set_lower(1);
        let hint = size_hint_with_first(Some(&frame), open);
        assert_eq!((hint.lower(), hint.upper()), (4, None));
        let hint = size_hint_with_first::<Infallible>(None, SizeHint::with_exact(4));
        assert_eq!(hint.exact(), Some(4));
    }

    #[test]
    fn a_body_not_ready_goes_on_with_no_frame() {
        let frames = stream::pending::<Result<Frame<Bytes>, Infallible>>();
        assert!(matches!(
            start(StreamBody::new(frames)),
            BodyStart::GoesOn(None)
        ));
    }
}
