//! The `imsat` command line, end to end: one test binary (one link of burn and tract for
//! all of them), a module per area, the helpers that run the binary in `common`.

mod common;
mod dedup_folder;
mod errors;
mod faiss;
mod folders;
mod index_upkeep;
mod npy;
mod photo_dedup;
mod photo_estimate;
mod photo_refusals;
mod photo_search;
mod photos;
mod pipes;
mod safe_writes;
mod train_config;
