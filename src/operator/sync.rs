//! The sync gate: which watches have listed their objects at least once. Readiness and every
//! reconcile read it, and it is driven by the very watch streams the controllers consume, so it
//! cannot claim a cache is filled that is not (nor wait for one nobody polls).

use std::sync::atomic::{AtomicBool, Ordering};

use futures::{Stream, TryStreamExt};
use kube::runtime::watcher;

/// One flag per named watch.
#[derive(Debug, Default)]
pub struct SyncGate {
    watches: Vec<(&'static str, AtomicBool)>,
}

impl SyncGate {
    /// A gate waiting for the named watches.
    pub fn new(names: impl IntoIterator<Item = &'static str>) -> SyncGate {
        SyncGate {
            watches: names
                .into_iter()
                .map(|n| (n, AtomicBool::new(false)))
                .collect(),
        }
    }

    /// A gate with nothing to wait for (tests that fill caches by hand).
    pub fn open() -> SyncGate {
        SyncGate::default()
    }

    /// Records that `name` has listed.
    pub fn mark(&self, name: &str) {
        let mut first = false;
        for (n, flag) in &self.watches {
            if *n == name {
                first = !flag.swap(true, Ordering::AcqRel);
            }
        }
        if first && self.synced() {
            tracing::info!("watches synced");
        }
    }

    /// Watches that have not listed yet.
    pub fn pending(&self) -> Vec<&'static str> {
        self.watches
            .iter()
            .filter(|(_, f)| !f.load(Ordering::Acquire))
            .map(|(n, _)| *n)
            .collect()
    }

    pub fn synced(&self) -> bool {
        self.watches.iter().all(|(_, f)| f.load(Ordering::Acquire))
    }

    /// Passes a watch stream through, marking `name` at its first complete list.
    pub fn track<K, S>(
        self: &std::sync::Arc<Self>,
        name: &'static str,
        stream: S,
    ) -> impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send + use<K, S>
    where
        S: Stream<Item = watcher::Result<watcher::Event<K>>> + Send,
        K: Send,
    {
        let gate = self.clone();
        stream.inspect_ok(move |event| {
            if matches!(event, watcher::Event::InitDone) {
                gate.mark(name);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_names_clear_as_watches_list() {
        let gate = SyncGate::new(["dataproducts", "cronjobs"]);
        assert!(!gate.synced());
        gate.mark("cronjobs");
        assert_eq!(gate.pending(), vec!["dataproducts"]);
        gate.mark("dataproducts");
        assert!(gate.synced() && gate.pending().is_empty());
        assert!(SyncGate::open().synced());
    }
}
