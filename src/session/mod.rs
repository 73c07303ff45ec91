//! The ground layer: session facts read off the wire, with no policy in them.
//! Which cookies hold the session and how chunks line up ([`names`]), and
//! what a request carries and a response writes, canonical and hashed
//! ([`values`]). Nothing here imports from the layers above.

pub mod names;
pub mod values;

pub use names::{SessionCookieNames, set_cookie_name};
pub use values::{
    RequestCookies, SessionHash, SessionWrite, SharedHasher, collapse_duplicates, fields,
    is_deletion, request_session, response_write,
};
