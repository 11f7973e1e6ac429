//! Helpers shared by the integration tests (each test file that uses them
//! declares `mod common;`).

#![allow(dead_code)] // each test file uses a part

pub mod app;
pub mod calls;
pub mod sse;
