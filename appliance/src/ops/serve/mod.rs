//! `airlock serve --socket PATH`: online inference for local clients over a Unix socket.
//!
//! The protocol is newline-delimited JSON. A client sends one object per line, the columns of
//! the model's contract (the label may be left out); the server answers one line per request,
//! in order:
//!
//! ```text
//! > {"age": 35, "purpose": "car", ...}
//! < {"model":"<id>","class":"1","probability":0.81}
//! > {"age": "old"}
//! < {"error":"request does not follow contract credit v1: column \"age\": ..."}
//! ```
//!
//! The answer goes through the same request parsing, feature transform and model as
//! `airlock predict`, and the same output checks: an output that is NaN, infinite or out of
//! range is an `error` line, never an answer.
//!
//! Limits, each refused with an `error` line that names it, then the connection is closed:
//!
//! - the peer's uid (from the kernel, `SO_PEERCRED`) must be on the allow list (by default
//!   only the uid the server runs as);
//! - at most `max_connections` connections at once; the next is told the server is busy;
//! - at most `max_connections_per_uid` of them from one uid, so one local user cannot take
//!   every slot;
//! - a request line of at most `max_request_bytes`;
//! - a connection with no request for `idle_timeout` is closed, and a request whose line
//!   does not end (or whose answer is not taken) within `request_timeout` is refused. Without
//!   these, clients that connect and send nothing held every slot for as long as they liked
//!   (issue 15, item 7).
//!
//! The server loads and checks the deployed model once, at start ([`prepare`], which also
//! records `model.serve` in the audit log: a [`Prepared`] server exists only with its
//! record), and then releases the home: other commands run while it serves. It serves that
//! model until it is stopped (SIGTERM or Ctrl-C); deploy a new model, then restart it.
//!
//! Here: the options, [`prepare`] and [`serve`], the deployment watch that swaps the router,
//! and the monitors fed while serving; `socket.rs` holds the socket server (admission, the
//! limits, one connection's lines), `answer.rs` the answer to one request line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::ops::rollout::Router;
use crate::store::AuditEntry;
use crate::vault::registry::NameRef;

mod answer;
mod socket;

use socket::run;

pub use answer::{answer, answer_observed, answer_seen};

/// How a server is set up.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Socket path (created; an old socket there is replaced, any other file refused).
    pub socket: PathBuf,
    /// Peer uids allowed to connect (empty: only the uid serving).
    pub allow_uids: BTreeSet<u32>,
    /// Most connections served at once.
    pub max_connections: usize,
    /// Longest request line, in bytes.
    pub max_request_bytes: usize,
    /// Most connections one peer uid holds at once (at most `max_connections`).
    pub max_connections_per_uid: usize,
    /// Longest time a request may take to arrive once its first byte has, and its answer to
    /// be taken by the client.
    pub request_timeout: Duration,
    /// Longest wait for the next request on an open connection; then it is closed.
    pub idle_timeout: Duration,
    /// Monitoring (windows, alerts, the canary's automatic rollback); `None`: off.
    pub monitor: Option<crate::ops::monitor::MonitorPolicy>,
}

/// A deployed model opened for serving, its `model.serve` record in the audit log. Only
/// [`prepare`] makes one, so every server a caller starts is on the record.
pub struct Prepared {
    router: Router,
    opts: ServeOptions,
    monitors: Monitors,
    /// Where the server looks for deployment changes, and what it serves.
    watch: Watch,
}

/// What the server re-reads when a deployment changes.
struct Watch {
    root: PathBuf,
    slot: String,
    features: Option<NameRef>,
    /// The newest deployment record's sequence number when the router was built.
    seq: i64,
}

/// How often the server looks for a deployment change (promote, rollback, a new canary).
pub const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// The newest deployment sequence number of a home.
fn deployment_seq(home: &Home) -> Result<i64> {
    crate::store::models::deployment_seq(home.store())
}

impl Prepared {
    /// The model to be served (production's, or the slot's).
    pub fn model(&self) -> Digest {
        self.router.production.model_id
    }

    /// The canary and the shadow served beside it, with their shares.
    pub fn shares(&self) -> Vec<(&'static str, Digest, f64)> {
        let mut v = Vec::new();
        if let Some(c) = &self.router.canary {
            v.push((crate::ops::rollout::CANARY, c.scorer.model_id, c.percent));
        }
        if let Some(s) = &self.router.shadow {
            v.push((crate::ops::rollout::SHADOW, s.scorer.model_id, s.percent));
        }
        v
    }

    /// The options it will serve with (the allow list filled in).
    pub fn options(&self) -> &ServeOptions {
        &self.opts
    }
}

/// Opens the model deployed to `slot` for serving (checked as `predict` checks it; refused
/// if it does not use the feature set `features` names), checks `opts` (an empty allow list
/// means the uid serving), and appends `model.serve` to the audit log with the slot, the
/// socket, the allowed uids and the feature set. The caller may then drop the home, so
/// other commands run while [`serve`] serves.
pub fn prepare(
    home: &mut Home,
    slot: &str,
    features: Option<&NameRef>,
    mut opts: ServeOptions,
) -> Result<Prepared> {
    if [
        opts.max_connections,
        opts.max_connections_per_uid,
        opts.max_request_bytes,
    ]
    .contains(&0)
        || opts.request_timeout.is_zero()
        || opts.idle_timeout.is_zero()
    {
        return Err(Error::Rejected(
            "--max-connections, --max-connections-per-uid, --max-request-bytes, --request-timeout and --idle-timeout must be at least 1".into(),
        ));
    }
    let router = Router::open(home, slot, features)?;
    let seq = deployment_seq(home)?;
    if opts.allow_uids.is_empty() {
        opts.allow_uids.insert(nix::unistd::geteuid().as_raw());
    }
    let scorer = &router.production;
    home.record(AuditEntry::new(
        "model.serve",
        &[scorer.model_id.hex()],
        json!({ "slot": slot, "socket": opts.socket.display().to_string(), "allow_uids": opts.allow_uids,
                "feature_set": scorer.run.feature_set_ref,
                "canary": router.canary.as_ref().map(|c| json!({ "model": c.scorer.model_id.hex(), "percent": c.percent })),
                "shadow": router.shadow.as_ref().map(|c| json!({ "model": c.scorer.model_id.hex(), "percent": c.percent })) }),
    ))?;
    let watch = Watch {
        root: home.root().to_path_buf(),
        slot: slot.to_owned(),
        features: features.cloned(),
        seq,
    };
    let mut monitors = Monitors::default();
    if let Some(p) = &opts.monitor {
        monitors.add(home, &router, p)?;
    }
    Ok(Prepared {
        router,
        opts,
        monitors,
        watch,
    })
}

/// The collectors of every (slot, model) served, kept while the server runs.
#[derive(Default)]
struct Monitors {
    by: std::collections::BTreeMap<(String, Digest), crate::ops::monitor::Collector>,
}

impl Monitors {
    /// Adds a collector for every (slot, model) of `router` not watched yet.
    fn add(
        &mut self,
        home: &Home,
        router: &Router,
        policy: &crate::ops::monitor::MonitorPolicy,
    ) -> Result<()> {
        let mut each = vec![(router.slot.clone(), &router.production)];
        if let Some(c) = &router.canary {
            each.push((crate::ops::rollout::CANARY.to_owned(), &c.scorer));
        }
        if let Some(sh) = &router.shadow {
            each.push((crate::ops::rollout::SHADOW.to_owned(), &sh.scorer));
        }
        for (slot, scorer) in each {
            let key = (slot.clone(), scorer.model_id);
            if let std::collections::btree_map::Entry::Vacant(e) = self.by.entry(key) {
                e.insert(crate::ops::monitor::Collector::with_policy(
                    home, scorer, &slot, policy,
                )?);
            }
        }
        Ok(())
    }

    fn record(
        &mut self,
        slot: &str,
        model: Digest,
        seen: &crate::ops::monitor::Seen<'_>,
        request: &Request<'_>,
    ) {
        let now = <Timestamp as crate::node::time::Now>::now();
        if let Some(c) = self.by.get_mut(&(slot.to_owned(), model)) {
            c.record_request(now, seen, request.key, request.text);
        }
    }

    /// Closed windows (every window, at shutdown), with the prediction log rows and request
    /// log samples kept so far.
    fn take(&mut self, all: bool) -> Taken {
        let now = <Timestamp as crate::node::time::Now>::now();
        let mut t = Taken::default();
        for c in self.by.values_mut() {
            c.tick(now);
            t.windows.extend(c.take(all));
        }
        // The logs go with closed windows (one write and one audit record per window), and
        // stay with their collectors until one closes.
        if !t.windows.is_empty() {
            for c in self.by.values_mut() {
                let (p, s) = c.take_logs();
                t.predictions.extend(p);
                t.sampled.extend(s);
            }
        }
        t
    }
}

/// What the collectors hand over to be stored.
#[derive(Default)]
struct Taken {
    windows: Vec<airlock_core::monitor::MonitorWindow>,
    predictions: Vec<crate::store::predictions::PredictionRow>,
    sampled: Vec<crate::ops::monitor::Sampled>,
}

/// A request as received, for the monitor's logs: its entity key (`None` when the contract
/// names no entity or key column, or the request is not JSON) and its raw text.
pub struct Request<'a> {
    /// The entity key, as the router computes it.
    pub key: Option<&'a str>,
    /// The request line as received (trimmed).
    pub text: &'a str,
}

type SharedMonitors = Arc<Mutex<Monitors>>;

/// Stores closed windows and runs the monitor's check (alerts, the canary's rollback); what
/// it did goes to stderr. Runs off the server's thread (it waits for the home's lock).
fn flush(root: &Path, taken: &Taken, policy: &crate::ops::monitor::MonitorPolicy) {
    let windows = &taken.windows;
    let done = (|| -> Result<Result<crate::ops::monitor::Checked>> {
        let mut home = Home::open(root)?;
        crate::ops::monitor::store_all(
            &mut home,
            windows,
            &taken.predictions,
            &taken.sampled,
            policy,
        )?;
        Ok(crate::ops::monitor::check(&mut home, policy))
    })();
    let done = match done {
        Ok(Err(e)) => {
            eprintln!(
                "airlock serve: {} monitoring window(s) stored; the check after them failed: {}",
                windows.len(),
                crate::text::error_text(&e)
            );
            return;
        }
        Ok(Ok(c)) => Ok(c),
        Err(e) => Err(e),
    };
    match done {
        Ok(c) => {
            for a in &c.raised {
                eprintln!(
                    "airlock serve: alert: {} {} of model {} ({}): {} {:.4} >= {}",
                    a.kind,
                    a.feature
                        .as_deref()
                        .map(crate::text::escape)
                        .unwrap_or_default(),
                    a.model.short(),
                    a.slot,
                    a.metric,
                    a.value,
                    a.threshold
                );
            }
            if let Some((m, why)) = &c.rolled_back {
                eprintln!("airlock serve: canary {} rolled back: {why}", m.short());
            }
            if let Some((m, why)) = &c.promoted {
                eprintln!("airlock serve: canary {} promoted: {why}", m.short());
            }
        }
        Err(e) => eprintln!(
            "airlock serve: {} monitoring window(s) could not be stored: {}",
            windows.len(),
            crate::text::error_text(&e)
        ),
    }
}

/// The router to serve with now: a new one when a deployment changed since `seq` (with
/// collectors for the models it adds, when monitoring).
fn reload(
    watch: &Watch,
    seq: i64,
    monitors: &SharedMonitors,
    policy: Option<&crate::ops::monitor::MonitorPolicy>,
) -> Result<Option<(Router, i64)>> {
    let home = Home::open_read_only(&watch.root)?;
    let now = deployment_seq(&home)?;
    if now == seq {
        return Ok(None);
    }
    let router = Router::open(&home, &watch.slot, watch.features.as_ref())?;
    if let Some(p) = policy {
        monitors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(&home, &router, p)?;
    }
    Ok(Some((router, now)))
}

/// Serves a [`Prepared`] model until SIGTERM or Ctrl-C. `on_ready` is called once the
/// socket accepts connections.
pub fn serve(prepared: Prepared, on_ready: impl FnOnce()) -> Result<()> {
    let Prepared {
        router,
        opts,
        monitors,
        watch,
    } = prepared;
    let opts = &opts;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::Rejected(format!("cannot start the server runtime: {e}")))?;
    let monitors: SharedMonitors = Arc::new(Mutex::new(monitors));
    let root = watch.root.clone();
    let served = rt.block_on(run(router, watch, Arc::clone(&monitors), opts, on_ready));
    // The open windows, stored at shutdown.
    if let Some(p) = &opts.monitor {
        let last = monitors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(true);
        if !last.windows.is_empty() {
            flush(&root, &last, p);
        }
    }
    served
}

/// The router requests are answered with; swapped whole when a deployment changes, so a
/// request in flight finishes with the router it started with.
type Current = Arc<std::sync::RwLock<Arc<Router>>>;

fn now_serving(current: &Current) -> Arc<Router> {
    // A poisoned lock still holds a whole router: the swap is one assignment.
    Arc::clone(&current.read().unwrap_or_else(|e| e.into_inner()))
}

/// Looks for deployment changes every [`RELOAD_EVERY`] and swaps the router. A change that
/// cannot be loaded (the home busy, a record refused) keeps the router in use, said on
/// stderr, and is tried again.
async fn watch_deployments(
    current: Current,
    watch: Watch,
    monitors: SharedMonitors,
    policy: Option<crate::ops::monitor::MonitorPolicy>,
) {
    let watch = Arc::new(watch);
    let policy = Arc::new(policy);
    let mut seq = watch.seq;
    loop {
        tokio::time::sleep(RELOAD_EVERY).await;
        // Closed windows first: stored, then checked (a canary the check rolls back is a
        // deployment change the reload below picks up).
        if let Some(p) = policy.as_ref() {
            let closed = monitors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(false);
            if !closed.windows.is_empty() {
                let (root, p) = (watch.root.clone(), p.clone());
                let _ = tokio::task::spawn_blocking(move || flush(&root, &closed, &p)).await;
            }
        }
        let (w, m) = (Arc::clone(&watch), Arc::clone(&monitors));
        let p = Arc::clone(&policy);
        // Opening the home may wait for its lock: never on the server's thread.
        let loaded =
            tokio::task::spawn_blocking(move || reload(&w, seq, &m, p.as_ref().as_ref())).await;
        match loaded {
            Ok(Ok(Some((router, now)))) => {
                seq = now;
                let desc = describe(&router);
                *current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(router);
                eprintln!("airlock serve: deployments changed; now serving {desc}");
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => eprintln!(
                "airlock serve: a deployment changed, and it could not be loaded ({}); still serving the models before it",
                crate::text::error_text(&e)
            ),
            Err(_) => {}
        }
    }
}

/// The models a router serves, for people.
pub fn describe(router: &Router) -> String {
    let mut s = format!("model {}", router.production.model_id.short());
    if let Some(c) = &router.canary {
        s.push_str(&format!(
            ", canary {} for {}% of entities",
            c.scorer.model_id.short(),
            c.percent
        ));
    }
    if let Some(sh) = &router.shadow {
        s.push_str(&format!(
            ", shadow {} on {}%",
            sh.scorer.model_id.short(),
            sh.percent
        ));
    }
    s
}

#[cfg(test)]
mod tests;
