//! A connection's open transactions (`BEGIN` … `COMMIT`/`ABORT`): the `SEND`, `ACK` and
//! `NACK` frames staged in each, to apply in order at `COMMIT`.
//!
//! Bounded three ways, since staged frames are memory a peer makes the server hold: open
//! transactions per connection (`limits.max_transactions`), frames per transaction
//! (`limits.max_frames_per_transaction`) and the bytes of all staged frames together
//! (`limits.max_transaction_bytes`, counted with [`frame_size`]). A frame that would pass a
//! bound is refused and nothing is staged.

use std::collections::HashMap;
use tidings_stomp::Frame;

/// The bounds of [`Transactions`].
#[derive(Debug, Clone, Copy)]
pub(super) struct TxLimits {
    pub max_transactions: usize,
    pub max_frames: usize,
    pub max_bytes: usize,
}

/// Why a transaction command was refused. The text goes to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("transaction {0} is already open")]
    AlreadyOpen(String),
    #[error("unknown transaction {0}")]
    Unknown(String),
    #[error("too many open transactions: the limit is {0}")]
    TooMany(usize),
    #[error("transaction {tx} has more than {limit} frames")]
    TooManyFrames { tx: String, limit: usize },
    #[error("open transactions hold too much: the limit is {0} bytes per connection")]
    TooManyBytes(usize),
}

impl TxError {
    /// The metric and `ERROR` kind: a protocol slip or a limit.
    pub fn kind(&self) -> &'static str {
        match self {
            TxError::AlreadyOpen(_) | TxError::Unknown(_) => "transaction",
            TxError::TooMany(_) | TxError::TooManyFrames { .. } | TxError::TooManyBytes(_) => {
                "transaction_limit"
            }
        }
    }
}

/// The open transactions of one connection.
#[derive(Debug)]
pub(super) struct Transactions {
    limits: TxLimits,
    open: HashMap<String, Vec<Frame>>,
    /// [`frame_size`] of every staged frame, all transactions together.
    bytes: usize,
}

impl Transactions {
    pub fn new(limits: TxLimits) -> Transactions {
        Transactions {
            limits,
            open: HashMap::new(),
            bytes: 0,
        }
    }

    pub fn begin(&mut self, tx: &str) -> Result<(), TxError> {
        if self.open.contains_key(tx) {
            return Err(TxError::AlreadyOpen(tx.to_owned()));
        }
        if self.open.len() >= self.limits.max_transactions {
            return Err(TxError::TooMany(self.limits.max_transactions));
        }
        self.open.insert(tx.to_owned(), Vec::new());
        Ok(())
    }

    /// Adds a frame to an open transaction, to apply at [`Transactions::commit`].
    pub fn stage(&mut self, tx: &str, frame: Frame) -> Result<(), TxError> {
        let staged = self
            .open
            .get_mut(tx)
            .ok_or_else(|| TxError::Unknown(tx.to_owned()))?;
        if staged.len() >= self.limits.max_frames {
            return Err(TxError::TooManyFrames {
                tx: tx.to_owned(),
                limit: self.limits.max_frames,
            });
        }
        let bytes = frame_size(&frame);
        if self.bytes + bytes > self.limits.max_bytes {
            return Err(TxError::TooManyBytes(self.limits.max_bytes));
        }
        self.bytes += bytes;
        staged.push(frame);
        Ok(())
    }

    /// Closes the transaction and hands out its frames, in the order they were staged.
    pub fn commit(&mut self, tx: &str) -> Result<Vec<Frame>, TxError> {
        let staged = self
            .open
            .remove(tx)
            .ok_or_else(|| TxError::Unknown(tx.to_owned()))?;
        self.bytes -= staged.iter().map(frame_size).sum::<usize>();
        Ok(staged)
    }

    /// Closes the transaction and drops its frames.
    pub fn abort(&mut self, tx: &str) -> Result<(), TxError> {
        self.commit(tx).map(drop)
    }

    /// Drops every open transaction (the connection ended).
    pub fn clear(&mut self) {
        self.open.clear();
        self.bytes = 0;
    }
}

/// What a staged frame holds in memory, roughly: its encoded size plus a little per header.
fn frame_size(frame: &Frame) -> usize {
    let headers: usize = frame
        .headers
        .iter()
        .map(|(k, v)| k.len() + v.len() + 48)
        .sum();
    64 + headers + frame.body.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_stomp::Command;

    fn send(body: &str) -> Frame {
        Frame::new(Command::Send)
            .with_header("destination", "/topic/t")
            .with_body(body.to_owned())
    }

    fn txs(max_transactions: usize, max_frames: usize, max_bytes: usize) -> Transactions {
        Transactions::new(TxLimits {
            max_transactions,
            max_frames,
            max_bytes,
        })
    }

    #[test]
    fn commit_hands_out_the_staged_frames_in_order_and_closes_the_transaction() {
        let mut t = txs(4, 10, usize::MAX);
        t.begin("t1").unwrap();
        t.stage("t1", send("a")).unwrap();
        t.stage("t1", send("b")).unwrap();
        let frames = t.commit("t1").unwrap();
        assert_eq!(frames, vec![send("a"), send("b")]);
        assert_eq!(t.bytes, 0);
        assert_eq!(t.commit("t1"), Err(TxError::Unknown("t1".into())));
        assert_eq!(t.stage("t1", send("c")), Err(TxError::Unknown("t1".into())));
    }

    #[test]
    fn abort_drops_the_frames_and_gives_their_bytes_back() {
        let mut t = txs(4, 10, usize::MAX);
        t.begin("t1").unwrap();
        t.stage("t1", send("abc")).unwrap();
        assert!(t.bytes > 0);
        t.abort("t1").unwrap();
        assert_eq!(t.bytes, 0);
        assert_eq!(t.abort("t1"), Err(TxError::Unknown("t1".into())));
    }

    #[test]
    fn a_transaction_id_is_open_once_and_open_transactions_are_capped() {
        let mut t = txs(2, 10, usize::MAX);
        t.begin("a").unwrap();
        assert_eq!(t.begin("a"), Err(TxError::AlreadyOpen("a".into())));
        t.begin("b").unwrap();
        let e = t.begin("c").unwrap_err();
        assert_eq!(e, TxError::TooMany(2));
        assert_eq!(e.kind(), "transaction_limit");
        t.abort("a").unwrap();
        t.begin("c").unwrap();
    }

    #[test]
    fn frames_per_transaction_are_capped() {
        let mut t = txs(2, 2, usize::MAX);
        t.begin("a").unwrap();
        t.stage("a", send("1")).unwrap();
        t.stage("a", send("2")).unwrap();
        let e = t.stage("a", send("3")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "transaction a has more than 2 frames",
            "{e:?}"
        );
        assert_eq!(e.kind(), "transaction_limit");
        assert_eq!(
            t.commit("a").unwrap().len(),
            2,
            "the refused frame is not staged"
        );
    }

    #[test]
    fn staged_bytes_are_capped_over_all_transactions_together() {
        let size = frame_size(&send("x"));
        let mut t = txs(4, 100, size * 3);
        t.begin("a").unwrap();
        t.begin("b").unwrap();
        t.stage("a", send("x")).unwrap();
        t.stage("a", send("x")).unwrap();
        t.stage("b", send("x")).unwrap();
        let e = t.stage("b", send("x")).unwrap_err();
        assert_eq!(e, TxError::TooManyBytes(size * 3));
        assert_eq!(t.bytes, size * 3);
        // Committing one gives its bytes back.
        t.commit("a").unwrap();
        t.stage("b", send("x")).unwrap();
        t.clear();
        assert_eq!((t.open.len(), t.bytes), (0, 0));
    }
}
