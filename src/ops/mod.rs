//! Operations, beside the proxy: the admin listener (health, readiness,
//! metrics) in [`admin`], the Prometheus registry in [`metrics`], log set-up
//! in [`logging`] and signal handling with its grace period in [`signals`].

pub mod admin;
pub mod logging;
pub mod metrics;
pub mod signals;
