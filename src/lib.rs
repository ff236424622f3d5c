//! lakegate: a PostgreSQL-wire query gateway over a data lake.
//!
//! The request path, top-down (see `DESIGN.md` in the steering repository):
//! [`server`] accepts connections → [`auth`] authenticates the principal → [`session`] holds the
//! per-connection state and speaks the protocol → [`statement`] parses and classifies each
//! statement → [`catalog`] resolves tables (backed by [`scan`] providers) and [`pgcatalog`]
//! answers client metadata queries → DataFusion plans and executes → results stream back.
//! Every error reaching a client goes through [`error`].
#![deny(clippy::all)]

pub mod audit;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod federation;
pub mod ops;
pub mod pgcatalog;
pub mod policy;
pub mod reload;
pub mod scan;
pub mod server;
pub mod session;
pub mod shared_subquery;
pub mod statement;
pub mod write;
