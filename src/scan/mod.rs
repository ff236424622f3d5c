//! Table providers that read the lake's files: catalog-partitioned Parquet/CSV/JSON and Delta.

pub mod delta;
pub mod listing;
pub mod partitioned;
