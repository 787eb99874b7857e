//! creditgate: a city's credit-information query and joint-sanction service.

pub mod api;
pub mod app;
pub mod cache;
pub mod config;
pub mod console;
pub mod crypto;
pub mod domain;
pub mod hooks;
pub mod import;
pub mod logging;
pub mod rules;
pub mod service;
pub mod store;
pub mod sync;
pub mod synthetic;
