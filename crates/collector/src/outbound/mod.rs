//! The collector's outbound HTTP: the URL type and the client TLS shared by the webhooks'
//! POSTs (`notify`) and the bounded GET of Microsoft's endpoint list (`endpoints`), so
//! neither depends on the other.

pub mod get;
pub(crate) mod tls;
pub mod url;

pub use url::{HttpUrl, Scheme, UrlError};
