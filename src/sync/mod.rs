//! Exchange with the provincial public credit information sharing platform (issue #5): the
//! protocol's signing layer so far; the adapter trait, worker and simulator are to come.

pub mod protocol;
