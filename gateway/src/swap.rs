//! A setting replaced on reload ([`Swap`]): a reader takes the value in force as an
//! `Arc` and keeps it as long as it needs it, so a reload never changes what a request
//! is being judged by halfway through.

use std::sync::{Arc, RwLock};

#[derive(Debug, Default)]
pub struct Swap<T>(RwLock<Arc<T>>);

impl<T> Swap<T> {
    pub fn new(value: T) -> Self {
        Swap(RwLock::new(Arc::new(value)))
    }

    /// The value in force now.
    pub fn get(&self) -> Arc<T> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The value from now on.
    pub fn set(&self, value: T) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(value);
    }
}
