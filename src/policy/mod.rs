//! Pure policy: which routes may change the session ([`routes`]) and what
//! happens to a response's session cookies ([`decision`]), with the plain
//! data that goes in and out of it ([`outcome`]). No I/O, no clock, no store:
//! guard memory's answer comes in as a [`Verdict`].

pub mod classify;
pub mod decision;
pub mod outcome;
pub mod routes;

pub use classify::{Change, Classified, SessionReading, classify};
pub use decision::{Examined, Mode, Policy, RequestFacts, Route};
pub use outcome::{Authority, Decision, Outcome, StoreFailure, StripReason, Verdict};
pub use routes::{AllowRule, Mismatch, PathPattern, normalise_path};
