//! The list in use, shared: the gap engine, the dashboard, the JSON API, `/metrics` and
//! exports read it; only the loader replaces it, atomically, and only with a list that
//! parsed whole. A failed load leaves the list as it was and is kept beside it, so every
//! place that shows the list shows why it was not replaced.

use std::sync::{Arc, PoisonError, RwLock};

use super::EndpointList;

/// The last load that failed, in words (naming the file or URL), and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    pub at_unix_ms: i64,
    pub message: String,
}

struct State {
    list: Arc<EndpointList>,
    last_error: Option<LoadError>,
}

/// Cheap to clone; every clone sees the same list.
#[derive(Clone)]
pub struct EndpointsHandle {
    state: Arc<RwLock<State>>,
}

impl Default for EndpointsHandle {
    /// The shipped snapshot, until a loader replaces it.
    fn default() -> Self {
        EndpointsHandle::new(EndpointList::snapshot())
    }
}

impl EndpointsHandle {
    pub fn new(list: EndpointList) -> EndpointsHandle {
        EndpointsHandle {
            state: Arc::new(RwLock::new(State {
                list: Arc::new(list),
                last_error: None,
            })),
        }
    }

    /// The list in use now. Hold it for one piece of work (a page, an evaluation): a
    /// replacement meanwhile does not change it under the reader.
    pub fn current(&self) -> Arc<EndpointList> {
        Arc::clone(&self.read().list)
    }

    /// Why the last load failed, if the last load failed.
    pub fn last_error(&self) -> Option<LoadError> {
        self.read().last_error.clone()
    }

    /// Puts a list that parsed whole in use, and forgets the last error.
    pub(super) fn replace(&self, list: EndpointList) {
        let mut state = self.write();
        state.list = Arc::new(list);
        state.last_error = None;
    }

    /// The source was read and the list in use is still its latest: no error to show.
    pub(super) fn confirmed(&self) {
        self.write().last_error = None;
    }

    /// A load failed: the list in use stays; the error is shown beside it.
    pub(super) fn failed(&self, at_unix_ms: i64, message: String) {
        self.write().last_error = Some(LoadError {
            at_unix_ms,
            message,
        });
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned value is still whole.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}
