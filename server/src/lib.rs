//! The standalone server: an axum adapter over the core's `handle`, the CLI and first-run bootstrap.

pub mod app;
pub mod bootstrap;
pub mod cli;
pub mod settings;

pub use app::app;
