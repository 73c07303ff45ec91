//! Operations, beside the proxy: the admin listener (health, readiness,
//! metrics) in [`admin`], the Prometheus registry in [`metrics`], log set-up
//! in [`logging`], signal handling with its grace period in [`signals`], and
//! the first sight of each session library in [`sightings`].

pub mod admin;
pub mod logging;
pub mod metrics;
pub mod sightings;
pub mod signals;
