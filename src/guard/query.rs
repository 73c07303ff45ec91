//! What guard memory is asked about one response: plain data, the same for
//! every store.

use crate::session::{SessionHash, SessionWrite};

/// What guard mode needs to know about one response with a session write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardQuery {
    /// An update, sign-in or sign-out (recorded; always passes), or a refresh
    /// (judged).
    pub authoritative: bool,
    /// The session the request carried.
    pub request: Option<SessionHash>,
    /// What the response writes.
    pub write: SessionWrite,
}
