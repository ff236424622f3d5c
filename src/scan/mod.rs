//! Reading tables: Parquet/CSV/JSON under catalog partitions, Delta through deltalake, the object
//! stores they live in, and the per-statement report of what was read.

pub mod delta;
pub mod listing;
pub mod partitioned;
pub mod report;
pub mod stores;
