//! Log output through `tracing`: text or JSON, filtered by `RUST_LOG`.
//!
//! The HTTP libraries are capped at `info` whatever `RUST_LOG` says, because
//! their debug and trace output can include header values, and cookie values
//! and tokens must never reach a log.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Directive;

use crate::config::LogFormat;

const CAPPED_DEPENDENCIES: [&str; 4] = ["hyper=info", "hyper_util=info", "h2=info", "tower=info"];

pub fn init(format: LogFormat) {
    let mut filter = EnvFilter::builder()
        .with_default_directive(tracing::Level::INFO.into())
        .from_env_lossy();
    for directive in CAPPED_DEPENDENCIES {
        filter = filter.add_directive(directive.parse::<Directive>().expect("static directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}
