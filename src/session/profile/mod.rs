//! Session profiles: everything cookieguard knows about one session library,
//! in one place. A profile says which cookies hold the library's session
//! (plain and `__Secure-` names, how a long value is split into parts, and,
//! where a name is shared between libraries, which values are its own), where
//! the library itself writes the session (its routes, relative to the base
//! paths it mounts them at), where the app keeps its secret and how a value
//! is opened with it, which claims change on every write, and the shape rules
//! that tell its change from its refresh without the secret.
//!
//! The layers above never name a library: they ask the profiles in effect
//! ([`SHIPPED`], pinned by `[session] profiles`). Adding a library is one new
//! file here that implements [`Profile`], its entry in [`SHIPPED`], and its
//! tests; `tests/profiles.rs` holds the behaviour every profile must show.

pub mod auth0;
pub mod authjs;
pub mod better_auth;

use std::fmt;

use http::Method;

use super::token::{Claims, Secret, TokenError};

/// One session library, as cookieguard knows it.
pub trait Profile: fmt::Debug + Send + Sync + 'static {
    /// Stable, short, lowercase: the config (`[session] profiles`), metric
    /// labels and logs use it.
    fn id(&self) -> &'static str;

    /// What people call the library, for `check`, `explain` and logs.
    fn name(&self) -> &'static str;

    /// The session cookie base names the library writes by default, plain and
    /// with the prefix it uses on https. Exact and case-sensitive.
    fn cookie_names(&self) -> &'static [&'static str];

    /// How a long value is split into parts named after the base name.
    fn chunks(&self) -> ChunkScheme;

    /// Whether a cookie value (raw, as on the wire; never empty: a deletion
    /// is recognised by its name) is this library's, for names that other
    /// libraries use too. `None`: the name alone decides.
    fn recogniser(&self) -> Option<fn(&[u8]) -> bool> {
        None
    }

    /// Where the library mounts its routes when the app says nothing, tried
    /// together (`base_path` in the config pins one).
    fn base_paths(&self) -> &'static [&'static str];

    /// The routes under a base path where the library itself changes the
    /// session (update, sign-in, sign-out): their responses may write it in
    /// strip mode, and in guard mode they supersede the request's session.
    fn routes(&self) -> &'static [RouteSpec];

    /// The app's environment variables that move one of [`Profile::routes`]
    /// to a path of the app's choosing (an absolute path, read at start-up):
    /// the route is then recognised there as well.
    fn route_variables(&self) -> &'static [RouteVariable] {
        &[]
    }

    /// Where a sign-in lands, under a base path: the request that shows the
    /// app's base path in its traffic, logged at first sight.
    fn sign_in_prefix(&self) -> &'static str;

    /// The app's environment variables that hold its secret, in the order
    /// they are tried (rotation: every one found is used).
    fn secret_variables(&self) -> &'static [&'static str];

    /// Claims written anew on every encode: a write that differs only in
    /// these is a refresh.
    fn volatile_claims(&self) -> &'static [&'static str];

    /// Opens values of this profile's cookies (`cookie_names` as configured,
    /// in order) with the app's secrets; keys are derived here, once.
    fn opener(&self, secrets: &[Secret], cookie_names: &[String]) -> Box<dyn Opener>;

    /// The library's own shapes of a change, read without the secret.
    fn shape_rules(&self) -> ShapeRules;

    /// Whether its cookies hold one session together (Better Auth's session
    /// token and its cookie cache): the exchange then reads all of them as
    /// one [`CompoundValue`], and the opener gets that. The browser may hold
    /// only some of them, so a claim on one side only is no change.
    fn compound(&self) -> bool {
        false
    }

    /// Whether its values can be read without the secret (signed, not
    /// sealed): its opener is made, with no secrets, even when none is known.
    fn reads_without_secret(&self) -> bool {
        false
    }
}

/// The value of a session kept in several cookies: each cookie present (its
/// index among the profile's names, chunks joined), framed so that no two
/// sessions share bytes: `index`, `=`, the value, `\0` (a cookie value
/// never holds a NUL).
#[derive(Debug, Default)]
pub struct CompoundValue(Vec<u8>);

impl CompoundValue {
    /// Adds cookie `index`'s whole value.
    pub fn push(&mut self, index: usize, value: impl IntoIterator<Item = u8>) {
        self.0.extend_from_slice(index.to_string().as_bytes());
        self.0.push(b'=');
        self.0.extend(value);
        self.0.push(0);
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// The cookies of a compound value: (index, value), in order. Bytes
    /// that are no compound value give nothing.
    pub fn parts(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
        bytes
            .split(|&b| b == 0)
            .filter(|part| !part.is_empty())
            .filter_map(|part| {
                let eq = memchr::memchr(b'=', part)?;
                let index = std::str::from_utf8(&part[..eq]).ok()?.parse().ok()?;
                Some((index, &part[eq + 1..]))
            })
    }
}

/// Opens a profile's session values with the app's secret(s).
pub trait Opener: fmt::Debug + Send + Sync {
    /// The claims of a value of the profile's `cookie`-th base name (its index
    /// in the names the opener was made with), chunks already joined.
    fn open(&self, cookie: usize, value: &[u8]) -> Result<Claims, TokenError>;
}

/// How a session value too long for one cookie is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkScheme {
    /// `name.0`, `name.1`, … (Auth.js, iron-session 9, Supabase).
    DotIndex,
    /// `name__0`, `name__1`, … (`@auth0/nextjs-auth0` v4).
    DoubleUnderscoreIndex,
}

impl ChunkScheme {
    /// Where a cookie sits in a family with base name `base`: 0 for the base
    /// name itself, N + 1 for part N; `None` when it is not of the family.
    pub fn position(self, base: &[u8], cookie_name: &[u8]) -> Option<u64> {
        let rest = cookie_name.strip_prefix(base)?;
        if rest.is_empty() {
            return Some(0);
        }
        let digits = rest.strip_prefix(self.separator().as_bytes())?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let index = digits.iter().fold(0u64, |n, d| {
            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        });
        Some(index.saturating_add(1))
    }

    /// What comes between the base name and a part's index.
    pub fn separator(self) -> &'static str {
        match self {
            ChunkScheme::DotIndex => ".",
            ChunkScheme::DoubleUnderscoreIndex => "__",
        }
    }

    /// The name of part `index` of the family `base`.
    pub fn part_name(self, base: &str, index: u64) -> String {
        format!("{base}{}{index}", self.separator())
    }
}

/// One of a library's own routes, relative to its base path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    /// `None`: any method.
    pub methods: Option<&'static [Method]>,
    /// Appended to the base path; `*` matches one segment, a final `**` the rest.
    pub path: &'static str,
    /// What the library does there, for `check` and `explain`.
    pub purpose: &'static str,
}

/// An environment variable that moves one of a library's routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteVariable {
    pub variable: &'static str,
    /// The [`RouteSpec::path`] of the route it moves (its methods and
    /// purpose stay).
    pub route: &'static str,
}

/// Shapes of a change a library shows without its secret being known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShapeRules {
    /// A server action (`POST` with `Next-Action`) whose response writes the
    /// session twice with different values is the action's own write after
    /// the middleware's copy of the old session: a change.
    pub action_rewrite_is_change: bool,
    /// Any response that writes the session twice with different values is
    /// a change: the library's middleware rolls the session on every request
    /// and nothing else writes it but a change (Auth0's `updateSession`, a
    /// refreshed access token), so a second, different write is the app's own.
    pub rewrite_is_change: bool,
}

/// Every profile cookieguard ships, in the order their cookie families are
/// numbered (a shared store's hashes include that number: new profiles go at
/// the end).
pub static SHIPPED: &[&dyn Profile] = &[&authjs::AuthJs, &auth0::Auth0, &better_auth::BetterAuth];

/// The shipped profile with this id.
pub fn find(id: &str) -> Option<&'static dyn Profile> {
    SHIPPED.iter().copied().find(|profile| profile.id() == id)
}

/// The ids of every shipped profile, for messages and defaults.
pub fn shipped_ids() -> Vec<&'static str> {
    SHIPPED.iter().map(|profile| profile.id()).collect()
}

/// The profile whose cookie names `[session] cookies` replaces: the library
/// that lets an app rename its session cookie freely.
pub fn renamable() -> &'static dyn Profile {
    &authjs::AuthJs
}
