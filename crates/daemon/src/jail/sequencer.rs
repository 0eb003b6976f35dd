//! Commit, then announce, then act: the order every ban and unban of a jail goes through.
//!
//! A ban is written to the store first (group commit: everything queued meanwhile goes into the
//! same transaction), and only once it is committed is it logged (`[jail] Ban IP`) and handed to
//! the actions. So anything an operator saw logged as banned survives a crash and is restored.
//! Bans and unbans of one jail keep their order end to end.
//!
//! One exception to "commit first": a batch of bans without unbans is handed to the in-process
//! firewall actions (nftables, ipset sets) at once, while the store commits, because that is
//! where ban latency is measured. This loses nothing: an element added before a crash that
//! came before its commit was never logged, its log position was not saved either (positions
//! are committed after their bans), so after a restart the start-up reconciliation removes the
//! element and re-reading the log bans the address again, once.

use super::record_from_ticket;
use crate::actions::{ActionRunner, Ticket};
use crate::events;
use crate::store::{SavedPosition, Store, Write};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

enum Op {
    Ban(Arc<Ticket>),
    /// A ban taken over (restart, restore): already stored, applied again.
    Reban(Arc<Ticket>),
    Unban {
        ticket: Arc<Ticket>,
        manual: bool,
    },
    /// Where reading stands after a batch: committed after (or with) the bans that batch made.
    Position(SavedPosition, oneshot::Sender<()>),
    Barrier(oneshot::Sender<()>),
}

/// Handle to a jail's sequencer task.
pub(super) struct Sequencer {
    tx: mpsc::UnboundedSender<Op>,
}

/// Ops handled per transaction at most (bounds the latency of the first one in a burst).
const BATCH: usize = 20_000;

impl Sequencer {
    pub(super) fn spawn(jail: &str, actions: Vec<ActionRunner>, store: Option<Store>) -> Sequencer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(jail.to_string(), actions, store, rx));
        Sequencer { tx }
    }

    pub(super) fn ban(&self, t: Arc<Ticket>) {
        let _ = self.tx.send(Op::Ban(t));
    }

    pub(super) fn reban(&self, t: Arc<Ticket>) {
        let _ = self.tx.send(Op::Reban(t));
    }

    pub(super) fn unban(&self, ticket: Arc<Ticket>, manual: bool) {
        let _ = self.tx.send(Op::Unban { ticket, manual });
    }

    /// Save the reading position after the bans queued so far; resolves once committed.
    pub(super) fn position(&self, pos: SavedPosition) -> oneshot::Receiver<()> {
        let (done, wait) = oneshot::channel();
        let _ = self.tx.send(Op::Position(pos, done));
        wait
    }

    /// Wait until everything queued so far has been handed to the actions.
    pub(super) async fn drain(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Op::Barrier(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run(
    jail: String,
    actions: Vec<ActionRunner>,
    store: Option<Store>,
    mut rx: mpsc::UnboundedReceiver<Op>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        // Bans only: the kernel sets need not wait for the commit (see the module docs). With
        // an unban in the batch, everything keeps its order instead.
        let early = !batch.iter().any(|op| matches!(op, Op::Unban { .. }));
        if early {
            for op in &batch {
                if let Op::Ban(t) = op {
                    for a in actions.iter().filter(|a| a.is_native()) {
                        a.ban(Arc::clone(t));
                    }
                }
            }
        }
        if let Some(store) = &store {
            let acks: Vec<_> = batch
                .iter()
                .filter_map(|op| match op {
                    Op::Ban(t) => Some(store.submit(Write::Ban(record_from_ticket(&jail, t)))),
                    Op::Unban {
                        ticket,
                        manual: true,
                    } => Some(store.submit(Write::Unban {
                        jail: jail.clone(),
                        ip: ticket.ip,
                    })),
                    Op::Position(pos, _) => Some(store.submit(Write::LogPosition(pos.clone()))),
                    _ => None,
                })
                .collect();
            for ack in acks {
                match ack.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::error!(jail = %jail, error = %e, "[{jail}] cannot store ban change: {e}")
                    }
                    Err(_) => tracing::error!(jail = %jail, "[{jail}] the store stopped"),
                }
            }
        }
        for op in batch {
            match op {
                Op::Ban(t) => {
                    events::ban(&jail, t.ip, t.bantime);
                    for a in actions.iter().filter(|a| !(early && a.is_native())) {
                        a.ban(Arc::clone(&t));
                    }
                }
                Op::Reban(t) => {
                    for a in &actions {
                        a.reban(Arc::clone(&t));
                    }
                }
                Op::Unban { ticket, .. } => {
                    events::unban(&jail, ticket.ip);
                    for a in &actions {
                        a.unban(Arc::clone(&ticket));
                    }
                }
                Op::Barrier(done) | Op::Position(_, done) => {
                    let _ = done.send(());
                }
            }
        }
    }
}
