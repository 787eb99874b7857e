//! Exchange with the provincial public credit information sharing platform: the protocol
//! (signing, messages, the convergence digest), the platform seam with its HTTP adapter, and a
//! simulator of the platform (`sim`, for tests, benches and demonstrations). The worker that
//! applies pulled pages and pushes local records is a use case: `service::sync`.

pub mod platform;
pub mod protocol;
pub mod sim;
