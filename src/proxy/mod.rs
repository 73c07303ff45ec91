//! The HTTP plumbing: the listener ([`server`]), one request's way to the
//! upstream and back ([`handler`]), the pooled upstream client ([`upstream`]),
//! the idle timeout on response bodies ([`body`]), header hygiene
//! ([`headers`]) and protocol upgrades ([`upgrade`]). The handler is where
//! guard memory is asked between the two halves of the decision.

pub mod body;
mod connection;
pub mod handler;
pub mod headers;
pub mod server;
pub mod upgrade;
pub mod upstream;

pub use handler::{Peer, Proxy, ResponseBody};
