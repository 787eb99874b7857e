//! Exchange with the provincial public credit information sharing platform (issue #5): the
//! protocol (signing, messages) and the platform seam with its HTTP adapter; the worker that
//! applies pulled pages and pushes local records is to come.

pub mod platform;
pub mod protocol;
