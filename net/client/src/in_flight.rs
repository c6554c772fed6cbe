//! The requests in flight on one connection, matched to their responses. Pure.
//!
//! Correlation ids count up from 1 per connection (wrapping). The broker answers in request
//! order (`net/PROTOCOL.md` section 3), so a response must carry the id of the oldest request
//! in flight; anything else breaks the protocol and closes the connection.

use std::collections::VecDeque;

use ringlog_wire::CorrelationId;

/// Hands out a connection's correlation ids in order.
#[derive(Debug, Default)]
pub(crate) struct CorrelationIds {
    last: u32,
}

impl CorrelationIds {
    pub(crate) fn next(&mut self) -> CorrelationId {
        self.last = self.last.wrapping_add(1);
        CorrelationId(self.last)
    }
}

/// A response that does not answer the oldest request in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mismatch {
    pub received: CorrelationId,
    /// `None`: no request was in flight.
    pub expected: Option<CorrelationId>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.expected {
            Some(expected) => write!(
                f,
                "response with correlation id {}, expected {expected} (responses come in request order)",
                self.received
            ),
            None => write!(
                f,
                "response with correlation id {} while no request is in flight",
                self.received
            ),
        }
    }
}

/// Requests sent and not answered yet, oldest first, each with what the caller needs to
/// complete it (`T`).
#[derive(Debug)]
pub(crate) struct InFlight<T> {
    queue: VecDeque<(CorrelationId, T)>,
}

impl<T> Default for InFlight<T> {
    fn default() -> Self {
        InFlight {
            queue: VecDeque::new(),
        }
    }
}

impl<T> InFlight<T> {
    /// Records a request just written to the socket.
    pub(crate) fn push(&mut self, correlation_id: CorrelationId, entry: T) {
        debug_assert!(
            self.queue.iter().all(|(id, _)| *id != correlation_id),
            "correlation id {correlation_id} is already in flight"
        );
        self.queue.push_back((correlation_id, entry));
    }

    /// Takes the request a response with `correlation_id` answers: the oldest one.
    pub(crate) fn complete(&mut self, correlation_id: CorrelationId) -> Result<T, Mismatch> {
        match self.queue.front() {
            Some((expected, _)) if *expected == correlation_id => {
                Ok(self.queue.pop_front().expect("front exists").1)
            }
            front => Err(Mismatch {
                received: correlation_id,
                expected: front.map(|(id, _)| *id),
            }),
        }
    }

    /// Takes every request in flight, oldest first: the connection is gone.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.queue.drain(..).map(|(_, entry)| entry)
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ids_count_up_and_wrap() {
        let mut ids = CorrelationIds::default();
        assert_eq!(ids.next(), CorrelationId(1));
        assert_eq!(ids.next(), CorrelationId(2));
        let mut ids = CorrelationIds { last: u32::MAX - 1 };
        assert_eq!(ids.next(), CorrelationId(u32::MAX));
        assert_eq!(ids.next(), CorrelationId(0));
    }

    #[test]
    fn responses_complete_requests_in_order() {
        let mut in_flight = InFlight::default();
        in_flight.push(CorrelationId(1), "metadata");
        in_flight.push(CorrelationId(2), "produce");
        in_flight.push(CorrelationId(3), "fetch");
        assert_eq!(in_flight.complete(CorrelationId(1)), Ok("metadata"));
        assert_eq!(in_flight.complete(CorrelationId(2)), Ok("produce"));
        assert_eq!(in_flight.len(), 1);
    }

    #[test]
    fn a_response_out_of_order_is_a_mismatch_and_takes_nothing() {
        let mut in_flight = InFlight::default();
        in_flight.push(CorrelationId(7), 'a');
        in_flight.push(CorrelationId(8), 'b');
        let mismatch = in_flight.complete(CorrelationId(8)).unwrap_err();
        assert_eq!(
            mismatch,
            Mismatch {
                received: CorrelationId(8),
                expected: Some(CorrelationId(7))
            }
        );
        assert_eq!(
            mismatch.to_string(),
            "response with correlation id 8, expected 7 (responses come in request order)"
        );
        assert_eq!(in_flight.len(), 2);
        let empty = InFlight::<()>::default().complete(CorrelationId(1));
        assert_eq!(
            empty.unwrap_err().to_string(),
            "response with correlation id 1 while no request is in flight"
        );
    }

    #[test]
    fn draining_yields_every_request_oldest_first() {
        let mut in_flight = InFlight::default();
        for id in 1..=3 {
            in_flight.push(CorrelationId(id), id);
        }
        assert_eq!(in_flight.drain().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(in_flight.len(), 0);
    }
}
