//! The first sight of each session library, logged once: which profile
//! cookieguard recognised, by which cookie, and, once the app's traffic
//! shows it (a response on one of the profile's own routes), at which base
//! path. With no configuration a profile looks at several base paths at once
//! (Auth.js: `/api/auth` and `/auth`); this line is how an operator learns
//! which one the app uses, and `/metrics` counts per profile from then on.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::info;

use crate::config::Config;

/// Per profile in effect: seen at all, and seen on its own routes.
#[derive(Debug)]
pub struct Sightings {
    profiles: Vec<Sighting>,
    /// Per allow rule (same index as the policy's): its profile and base path.
    rule_bases: Vec<Option<(usize, String)>>,
    /// Every profile has been seen: no cookie name is needed any more.
    all_seen: AtomicBool,
    /// Every profile has been seen on its routes: nothing left to do.
    done: AtomicBool,
}

#[derive(Debug)]
struct Sighting {
    id: &'static str,
    name: &'static str,
    seen: AtomicBool,
    base_seen: AtomicBool,
}

impl Sightings {
    pub fn new(config: &Config) -> Sightings {
        let profiles = config.profiles();
        let (_, owners) = config.allow_rules();
        // The same rules, in the same order, as the policy's (Config::allow_rules).
        let mut rule_bases = Vec::new();
        for (profile, in_effect) in profiles.iter().enumerate() {
            for (base, _) in in_effect.routes_by_base() {
                rule_bases.push(base.map(|base| (profile, base.to_string())));
            }
        }
        // The rules are the profiles' own only when the file wrote none.
        if owners.is_empty() {
            rule_bases.clear();
        }
        Sightings {
            profiles: profiles
                .iter()
                .map(|p| Sighting {
                    id: p.profile.id(),
                    name: p.profile.name(),
                    seen: AtomicBool::new(false),
                    base_seen: AtomicBool::new(false),
                })
                .collect(),
            rule_bases,
            all_seen: AtomicBool::new(false),
            done: AtomicBool::new(false),
        }
    }

    /// Whether a response may still be a first sight (one relaxed load).
    pub fn pending(&self) -> bool {
        !self.done.load(Ordering::Relaxed)
    }

    /// Whether some profile has not been seen at all: the cookie name a
    /// response writes is worth reading before the decision removes it.
    pub fn unseen(&self) -> bool {
        !self.all_seen.load(Ordering::Relaxed)
    }

    /// A response wrote `profile`'s session; `cookie`: the name it wrote
    /// (read while [`Sightings::unseen`]), `rule`: the allow rule its
    /// request matched.
    pub fn saw(&self, profile: usize, rule: Option<usize>, cookie: Option<&str>) {
        let Some(sighting) = self.profiles.get(profile) else {
            return;
        };
        if !sighting.seen.load(Ordering::Relaxed) && !sighting.seen.swap(true, Ordering::Relaxed) {
            info!(
                profile = sighting.id,
                library = sighting.name,
                cookie = cookie.unwrap_or("-"),
                "session library recognised"
            );
            if self.profiles.iter().all(|p| p.seen.load(Ordering::Relaxed)) {
                self.all_seen.store(true, Ordering::Relaxed);
            }
        }
        let base = rule
            .and_then(|rule| self.rule_bases.get(rule))
            .and_then(Option::as_ref)
            .filter(|(owner, _)| *owner == profile);
        if let Some((_, base)) = base
            && !sighting.base_seen.load(Ordering::Relaxed)
            && !sighting.base_seen.swap(true, Ordering::Relaxed)
        {
            info!(
                profile = sighting.id,
                library = sighting.name,
                base_path = %base,
                "the app's session routes are at this base path"
            );
            if self
                .profiles
                .iter()
                .all(|p| p.base_seen.load(Ordering::Relaxed))
            {
                self.done.store(true, Ordering::Relaxed);
            }
        }
    }
}
