//! The ground layer: session facts read off the wire, with no policy in them.
//! Which cookies hold the session and how chunks line up ([`names`]), and
//! what a request carries and a response writes, canonical and hashed
//! ([`values`]); the browser's session before and after one exchange
//! ([`exchange`]); and what a token says, read with the app's secret
//! ([`token`]); and what cookieguard knows of each session library, in one
//! file per library ([`profile`]). Nothing here imports from the layers above.

pub mod exchange;
pub mod names;
pub mod profile;
pub mod token;
pub mod values;

pub use exchange::{Exchange, Token, read_exchange};
pub use names::{SessionCookieNames, set_cookie_name};
pub use values::{
    RequestCookies, SessionHash, SessionWrite, SharedHasher, collapse_duplicates, fields,
    is_deletion,
};
