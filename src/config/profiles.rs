//! The profiles in effect, as this configuration shapes them: which shipped
//! profiles are on (`[session] profiles`), their cookie names (`[session]
//! cookies` renames the renamable one's), their base paths (`base_path` pins
//! one for every profile), their volatile claims and their secrets. `check`,
//! `explain`, the start-up log and the decision all read them from here, so
//! what is printed is what runs.

use std::fmt::Write as _;

use super::secrets::SessionSecrets;
use super::values::BasePath;
use super::{Config, ConfigError};
use crate::policy::{AllowRule, SessionReading};
use crate::session::SessionCookieNames;
use crate::session::profile::{self, Profile};

/// One profile as this configuration has it.
#[derive(Debug, Clone)]
pub struct ProfileInEffect {
    pub profile: &'static dyn Profile,
    /// Its session cookie base names, in order.
    pub cookies: Vec<String>,
    /// Where its routes are looked for.
    pub base_paths: Vec<BasePath>,
    pub volatile_claims: Vec<String>,
    pub secrets: SessionSecrets,
    /// Routes the app moved with the library's environment variables.
    pub moved: Vec<MovedRoute>,
}

/// One of a library's routes that the app moved to a path of its own with
/// one of the library's environment variables (read at start-up, like the
/// secret), e.g. Auth0's `NEXT_PUBLIC_ACCESS_TOKEN_ROUTE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedRoute {
    pub profile: &'static str,
    pub variable: &'static str,
    /// The route's [`RouteSpec::path`](crate::session::profile::RouteSpec).
    pub route: &'static str,
    /// Where the app has it: an absolute path, checked when it was read.
    pub path: String,
}

impl MovedRoute {
    /// The allow rule at the moved path, with the methods of the route it moves.
    fn rule(&self, profile: &dyn Profile) -> Option<AllowRule> {
        let spec = profile.routes().iter().find(|r| r.path == self.route)?;
        Some(AllowRule {
            methods: spec.methods.map(<[http::Method]>::to_vec),
            path: self.path.parse().ok()?,
            query: Vec::new(),
            headers: Vec::new(),
        })
    }
}

/// The routes the environment moves for these profiles; a value that is no
/// absolute path is an error naming the variable.
pub fn resolve_moved_routes(
    profiles: &[&'static dyn Profile],
    variable: impl Fn(&str) -> Option<String>,
) -> Result<Vec<MovedRoute>, ConfigError> {
    let mut moved = Vec::new();
    for profile in profiles {
        for moves in profile.route_variables() {
            let Some(path) = variable(moves.variable).filter(|v| !v.is_empty()) else {
                continue;
            };
            let route = MovedRoute {
                profile: profile.id(),
                variable: moves.variable,
                route: moves.route,
                path,
            };
            if !route.path.starts_with('/') || route.rule(*profile).is_none() {
                return Err(ConfigError::Setting(format!(
                    "environment variable {}: `{}` is not a path cookieguard can match (it must start with `/`)",
                    route.variable,
                    route.path.escape_debug()
                )));
            }
            moved.push(route);
        }
    }
    Ok(moved)
}

impl ProfileInEffect {
    /// Its own routes at each of its base paths, in order, then the routes
    /// the app moved.
    pub fn routes(&self) -> Vec<AllowRule> {
        self.routes_by_base()
            .into_iter()
            .map(|(_, rule)| rule)
            .collect()
    }

    /// [`ProfileInEffect::routes`], each with the base path it sits under
    /// (`None` for a moved route).
    pub fn routes_by_base(&self) -> Vec<(Option<&BasePath>, AllowRule)> {
        let at_bases = self.base_paths.iter().flat_map(|base| {
            base.rules(self.profile.routes())
                .into_iter()
                .map(move |rule| (Some(base), rule))
        });
        let moved = self
            .moved
            .iter()
            .filter_map(|moved| Some((None, moved.rule(self.profile)?)));
        at_bases.chain(moved).collect()
    }

    /// What `check` prints about it, as TOML comments.
    pub fn describe(&self, routes_apply: bool) -> String {
        let mut out = String::new();
        let profile = self.profile;
        let _ = writeln!(out, "# profile {} ({})", profile.id(), profile.name());
        let chunks = profile.chunks();
        let _ = writeln!(
            out,
            "#   cookies: {} (chunks {}, {}, …)",
            self.cookies.join(", "),
            chunks.part_name("", 0),
            chunks.part_name("", 1)
        );
        let bases: Vec<String> = self.base_paths.iter().map(BasePath::to_string).collect();
        let _ = writeln!(out, "#   base paths: {}", bases.join(", "));
        if routes_apply {
            for (base, rule) in self.routes_by_base() {
                let _ = writeln!(out, "#   route: {}", rule.summary());
                if base.is_none()
                    && let Some(moved) = self.moved.iter().find(|m| rule.path.as_str() == m.path)
                {
                    let _ = writeln!(out, "#     (moved there by {})", moved.variable);
                }
            }
        } else {
            let _ = writeln!(out, "#   routes: replaced by the [[allow]] rules above");
        }
        let _ = writeln!(
            out,
            "#   volatile claims: {}",
            self.volatile_claims.join(", ")
        );
        let _ = writeln!(out, "#   secret: {}", self.secrets.describe());
        out
    }
}

impl Config {
    /// The profiles in effect, in the order of `[session] profiles`.
    pub fn profiles(&self) -> Vec<ProfileInEffect> {
        self.session
            .profiles
            .iter()
            .filter_map(|id| profile::find(id))
            .map(|profile| {
                let renamed = std::ptr::addr_eq(profile, profile::renamable());
                let cookies = match (
                    self.session.profile_cookies.get(profile.id()),
                    &self.session.cookies,
                ) {
                    (Some(names), _) => names.clone(),
                    (None, Some(names)) if renamed => names.clone(),
                    _ => profile
                        .cookie_names()
                        .iter()
                        .map(|&n| n.to_owned())
                        .collect(),
                };
                let base_paths = match &self.base_path {
                    Some(base) => vec![base.clone()],
                    None => profile
                        .base_paths()
                        .iter()
                        .map(|&base| {
                            BasePath::try_from(base.to_owned()).expect("a valid base path")
                        })
                        .collect(),
                };
                let volatile_claims = match &self.session.volatile_claims {
                    Some(claims) => claims.clone(),
                    None => profile
                        .volatile_claims()
                        .iter()
                        .map(|&c| c.to_owned())
                        .collect(),
                };
                ProfileInEffect {
                    profile,
                    cookies,
                    base_paths,
                    volatile_claims,
                    secrets: self.session.secrets.of(profile.id()).clone(),
                    moved: self
                        .session
                        .moved_routes
                        .iter()
                        .filter(|m| m.profile == profile.id())
                        .cloned()
                        .collect(),
                }
            })
            .collect()
    }

    /// The allow rules in effect, each with the profile (index among
    /// [`Config::profiles`]) whose own route it is: the `[[allow]]` rules of
    /// the file when it has any (for every profile), else every profile's own.
    pub fn allow_rules(&self) -> (Vec<AllowRule>, Vec<Option<usize>>) {
        if let Some(rules) = &self.allow {
            return (rules.clone(), Vec::new());
        }
        let mut rules = Vec::new();
        let mut owners = Vec::new();
        for (index, profile) in self.profiles().iter().enumerate() {
            for rule in profile.routes() {
                rules.push(rule);
                owners.push(Some(index));
            }
        }
        (rules, owners)
    }

    /// The session cookie families of the profiles in effect.
    pub fn session_cookie_names(&self) -> SessionCookieNames {
        SessionCookieNames::from_profiles(
            self.profiles().into_iter().map(|p| (p.profile, p.cookies)),
        )
    }

    /// Openers for the profiles that have a secret or need none; `None` when
    /// no profile has an opener. Keys are derived here, once per secret and
    /// cookie name.
    pub(super) fn session_reading(&self, names: &SessionCookieNames) -> Option<SessionReading> {
        let profiles: Vec<_> = self
            .profiles()
            .into_iter()
            .map(|p| {
                let opener = (!p.secrets.is_empty() || p.profile.reads_without_secret())
                    .then(|| p.profile.opener(&p.secrets.secrets, &p.cookies));
                (opener, p.volatile_claims)
            })
            .collect();
        profiles
            .iter()
            .any(|(opener, _)| opener.is_some())
            .then(|| SessionReading::for_profiles(names, profiles))
    }
}
