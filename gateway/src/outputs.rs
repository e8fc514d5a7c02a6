//! What the gateway makes of channels besides serving viewers: recordings (`record`),
//! forwards (`forward`) and commands (`exec`). Each holds its settings, which a reload
//! replaces, and its counters, which `/metrics` shows; each reads the hub, and the hub
//! knows none of them.

use std::sync::Arc;

use crate::exec::Execs;
use crate::forward::Forwards;
use crate::record::Recordings;

#[derive(Clone, Default)]
pub struct Outputs {
    pub recordings: Arc<Recordings>,
    pub forwards: Arc<Forwards>,
    pub execs: Arc<Execs>,
}
