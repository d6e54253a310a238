//! What every page shows and every API endpoint answers: plain `Serialize` structs built
//! from the store, so a page and its JSON never disagree. Pages render these; the API
//! serialises them.

pub mod audits;
pub mod cells;
pub mod endpoints;
pub mod gaps;
pub mod overview;
pub mod server;
pub mod timeline;

use serde::Serialize;

use super::params::Paging;

/// Where a paginated list stands.
#[derive(Debug, Clone, Serialize)]
pub struct PageInfo {
    pub page: u32,
    pub per_page: u32,
    /// Items matching the filters, on every page.
    pub total: u64,
    /// At least 1, so "page 1 of 1" reads right on an empty list.
    pub pages: u64,
}

impl PageInfo {
    pub fn new(paging: Paging, total: u64) -> PageInfo {
        let per_page = u64::from(paging.per_page.max(1));
        PageInfo {
            page: paging.page,
            per_page: paging.per_page,
            total,
            pages: total.div_ceil(per_page).max(1),
        }
    }
}
