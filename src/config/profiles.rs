//! The profiles in effect, as this configuration shapes them: which shipped
//! profiles are on (`[session] profiles`), their cookie names (`[session]
//! cookies` renames the renamable one's), their base paths (`base_path` pins
//! one for every profile), their volatile claims and their secrets. `check`,
//! `explain`, the start-up log and the decision all read them from here, so
//! what is printed is what runs.

use std::fmt::Write as _;

use super::Config;
use super::secrets::SessionSecrets;
use super::values::BasePath;
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
}

impl ProfileInEffect {
    /// Its own routes at each of its base paths, in order.
    pub fn routes(&self) -> Vec<AllowRule> {
        self.routes_by_base()
            .into_iter()
            .map(|(_, rule)| rule)
            .collect()
    }

    /// [`ProfileInEffect::routes`], each with the base path it sits under.
    pub fn routes_by_base(&self) -> Vec<(&BasePath, AllowRule)> {
        self.base_paths
            .iter()
            .flat_map(|base| {
                base.rules(self.profile.routes())
                    .into_iter()
                    .map(move |rule| (base, rule))
            })
            .collect()
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
            for rule in self.routes() {
                let _ = writeln!(out, "#   route: {}", rule.summary());
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
                let cookies = match &self.session.cookies {
                    Some(names) if renamed => names.clone(),
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

    /// Openers for the profiles that have a secret; `None` when none has.
    /// Keys are derived here, once per secret and cookie name.
    pub(super) fn session_reading(&self, names: &SessionCookieNames) -> Option<SessionReading> {
        if self.session.secrets.is_empty() {
            return None;
        }
        let profiles = self
            .profiles()
            .into_iter()
            .map(|p| {
                let opener = (!p.secrets.is_empty())
                    .then(|| p.profile.opener(&p.secrets.secrets, &p.cookies));
                (opener, p.volatile_claims)
            })
            .collect();
        Some(SessionReading::for_profiles(names, profiles))
    }
}
