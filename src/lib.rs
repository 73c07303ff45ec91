//! cookieguard: a reverse proxy for apps that keep the whole session in a
//! cookie (Auth.js / NextAuth JWT sessions first) that removes the session
//! `Set-Cookie` headers that would write an old session back, so a request
//! that started before a session change can no longer revert it.
//!
//! # Layout, by layer (imports point down only)
//! - [`session`] (the ground): what each session library is, one profile
//!   per library ([`session::profile`]); cookie names and chunk families,
//!   session values from `Cookie`/`Set-Cookie`, canonical and hashed.
//! - [`policy`] (pure, no I/O): allow rules, the response decision, and the
//!   plain data it takes and gives (outcomes, guard verdicts).
//! - [`guard`]: guard mode's generation memory, in this process or in Redis,
//!   and the [`guard::Decider`] that asks it between the decision's halves.
//! - [`proxy`] (HTTP plumbing): listener, one request's way, upstream pool,
//!   body idle timeout, hop-by-hop and forwarding headers, upgrades.
//! - Beside the proxy: [`config`] (schema, defaults, layering, located
//!   errors, redaction) and [`ops`] (admin listener, metrics, logs, signals).
//! - At the top: [`cli`] (the command line) and [`explain`] (what
//!   `cookieguard explain` prints); `main.rs` only reports errors.

pub mod cli;
pub mod config;
pub mod explain;
pub mod guard;
pub mod ops;
pub mod policy;
pub mod proxy;
pub mod session;
