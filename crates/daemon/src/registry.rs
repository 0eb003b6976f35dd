//! The running jails by name, and which jails read which log file.

use crate::jail::{FilterInput, FilterSender, Jail};
use crate::sources::file::LineBatch;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

type LineSender = FilterSender;

/// Jails and line routes, shared by the control socket, the timer and the router.
#[derive(Default)]
pub struct Registry {
    jails: RwLock<BTreeMap<String, Arc<Jail>>>,
    routes: RwLock<HashMap<PathBuf, Vec<(String, LineSender)>>>,
}

impl Registry {
    /// The jail called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Jail>> {
        self.jails
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// All jails, sorted by name.
    pub fn all(&self) -> Vec<Arc<Jail>> {
        self.jails
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Names of all jails, sorted.
    pub fn names(&self) -> Vec<String> {
        self.jails
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// Add a jail whose filter thread reads from `lines`.
    pub fn insert(&self, jail: Arc<Jail>, lines: LineSender) {
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        for f in &jail.files {
            routes
                .entry(f.clone())
                .or_default()
                .push((jail.name.clone(), lines.clone()));
        }
        self.jails
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(jail.name.clone(), jail);
    }

    /// Remove a jail; its filter thread ends when its last route is dropped.
    pub fn remove(&self, name: &str) -> Option<Arc<Jail>> {
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        for list in routes.values_mut() {
            list.retain(|(n, _)| n != name);
        }
        routes.retain(|_, l| !l.is_empty());
        self.jails
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
    }

    /// Every path some jail reads.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// Hand a batch of lines to every jail reading its file, waiting while a jail has
    /// [`crate::jail::FILTER_QUEUE`] batches queued (so reading keeps pace with filtering).
    /// The routes are not locked while waiting: a reload can change them meanwhile.
    pub fn route(&self, batch: LineBatch) {
        let targets: Vec<LineSender> = {
            let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
            match routes.get(&batch.path) {
                Some(list) => list.iter().map(|(_, tx)| tx.clone()).collect(),
                None => return,
            }
        };
        let batch = Arc::new(batch);
        for tx in targets {
            let _ = tx.send(FilterInput::Lines(Arc::clone(&batch)));
        }
    }

    /// Names of the jails reading `path`.
    pub fn readers(&self, path: &std::path::Path) -> Vec<String> {
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        routes
            .get(path)
            .map(|l| l.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default()
    }
}
