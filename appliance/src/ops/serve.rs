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

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;

use crate::digest::Digest;
use crate::error::{DataError, Error, IoContext, Result};
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::ops::rollout::{Route, Router};
use crate::ops::score::Scorer;
use crate::store::AuditEntry;
use crate::vault::registry::NameRef;

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

/// Connections held per peer uid. A [`UidSlot`] counts one and gives it back when dropped.
#[derive(Clone, Debug)]
struct UidSlots {
    held: Arc<Mutex<HashMap<u32, usize>>>,
    per_uid: usize,
}

/// One connection counted against its uid's limit.
#[derive(Debug)]
struct UidSlot {
    held: Arc<Mutex<HashMap<u32, usize>>>,
    uid: u32,
}

impl UidSlots {
    fn new(per_uid: usize) -> UidSlots {
        UidSlots {
            held: Arc::default(),
            per_uid,
        }
    }

    /// A slot for `uid`, or `None` when it already holds `per_uid` connections.
    fn take(&self, uid: u32) -> Option<UidSlot> {
        // A poisoned lock still holds consistent counts: each change is one statement.
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let n = held.entry(uid).or_insert(0);
        if *n >= self.per_uid {
            return None;
        }
        *n += 1;
        Some(UidSlot {
            held: Arc::clone(&self.held),
            uid,
        })
    }
}

impl Drop for UidSlot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = held.get_mut(&self.uid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.uid);
            }
        }
    }
}

/// What a connection may hold: its share of the server and of its uid's limit.
struct Admitted {
    _server: OwnedSemaphorePermit,
    _uid: UidSlot,
}

/// The per-connection limits.
#[derive(Clone, Copy, Debug)]
struct Limits {
    max_line: usize,
    request: Duration,
    idle: Duration,
}

/// Binds the socket: refuses to replace anything but an old socket.
fn bind(path: &Path) -> Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path).at(path)?,
        Ok(_) => {
            return Err(Error::Refused(format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            )));
        }
        Err(_) => {}
    }
    UnixListener::bind(path).at(path)
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

async fn run(
    router: Router,
    watch: Watch,
    monitors: SharedMonitors,
    opts: &ServeOptions,
    on_ready: impl FnOnce(),
) -> Result<()> {
    let current: Current = Arc::new(std::sync::RwLock::new(Arc::new(router)));
    let listener = bind(&opts.socket)?;
    // Peers of other uids need the file to be writable by them; the allow list then decides.
    let own = nix::unistd::geteuid().as_raw();
    let mode = if opts.allow_uids.iter().any(|u| *u != own) {
        0o666
    } else {
        0o600
    };
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&opts.socket, std::fs::Permissions::from_mode(mode))
            .at(&opts.socket)?;
    }
    let slots = Arc::new(Semaphore::new(opts.max_connections));
    let uids = UidSlots::new(opts.max_connections_per_uid.min(opts.max_connections));
    let limits = Limits {
        max_line: opts.max_request_bytes,
        request: opts.request_timeout,
        idle: opts.idle_timeout,
    };
    on_ready();
    let watcher = tokio::spawn(watch_deployments(
        Arc::clone(&current),
        watch,
        Arc::clone(&monitors),
        opts.monitor.clone(),
    ));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Rejected(format!("cannot watch SIGTERM: {e}")))?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        // Out of file descriptors, say: wait instead of spinning.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Admission is decided here, in accept order, before the connection's task
                // runs, so the counts never lag behind the connections.
                match admit(&stream, &slots, &uids, opts) {
                    Ok(admitted) => {
                        let current = Arc::clone(&current);
                        let monitors = opts.monitor.is_some().then(|| Arc::clone(&monitors));
                        tokio::spawn(async move {
                            let _held = admitted;
                            connection(stream, &current, monitors.as_ref(), limits).await;
                        });
                    }
                    Err(why) => {
                        tokio::spawn(async move { refuse(stream, &why, limits.request).await });
                    }
                }
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    watcher.abort();
    let _ = std::fs::remove_file(&opts.socket);
    Ok(())
}

/// Takes a slot for `stream`, or says why it gets none: the server is full, the peer's uid
/// is not allowed, or it already holds its share.
fn admit(
    stream: &UnixStream,
    slots: &Arc<Semaphore>,
    uids: &UidSlots,
    opts: &ServeOptions,
) -> std::result::Result<Admitted, String> {
    let Ok(server) = Arc::clone(slots).try_acquire_owned() else {
        return Err(format!(
            "server busy: {} connections in use; try again",
            opts.max_connections
        ));
    };
    let uid = match stream.peer_cred() {
        Ok(c) => c.uid(),
        Err(e) => return Err(format!("cannot read the peer's credentials: {e}")),
    };
    if !opts.allow_uids.contains(&uid) {
        return Err(format!("uid {uid} is not allowed to use this server"));
    }
    let Some(slot) = uids.take(uid) else {
        return Err(format!(
            "uid {uid} already holds {} connections, the most one uid may hold; close one and try again",
            uids.per_uid
        ));
    };
    Ok(Admitted {
        _server: server,
        _uid: slot,
    })
}

/// Writes one error line and closes, giving up after `limit` on a peer that does not read.
async fn refuse(stream: UnixStream, why: &str, limit: Duration) {
    let (_, mut write) = stream.into_split();
    say_and_close(&mut write, why, limit).await;
}

async fn say_and_close(write: &mut tokio::net::unix::OwnedWriteHalf, why: &str, limit: Duration) {
    let line = format!("{}\n", json!({ "error": why }));
    let _ = timeout(limit, async {
        let _ = write.write_all(line.as_bytes()).await;
        let _ = write.shutdown().await;
    })
    .await;
}

/// `d` from now; a duration too long to add is as good as never.
fn deadline(d: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

/// Whole seconds (or milliseconds, under one second) for messages.
fn show(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

async fn connection(
    stream: UnixStream,
    current: &Current,
    monitors: Option<&SharedMonitors>,
    limits: Limits,
) {
    let Limits {
        max_line,
        request,
        idle,
    } = limits;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    // Blank lines do not count as requests: they do not move the idle deadline.
    let mut idle_until = deadline(idle);
    loop {
        line.clear();
        // Idle: waiting for the first byte of the next request.
        match tokio::time::timeout_at(idle_until, reader.fill_buf()).await {
            Err(_) => {
                let why = format!("no request for {}; connection closed", show(idle));
                say_and_close(&mut write, &why, request).await;
                return;
            }
            Ok(Err(_)) => return,
            Ok(Ok([])) => return,
            Ok(Ok(_)) => {}
        }
        // One byte more than allowed tells an over-long line from one exactly at the limit.
        let mut limited = (&mut reader).take(max_line as u64 + 1);
        let n = match timeout(request, limited.read_until(b'\n', &mut line)).await {
            Err(_) => {
                let why = format!(
                    "request not finished within {}; connection closed",
                    show(request)
                );
                say_and_close(&mut write, &why, request).await;
                return;
            }
            Ok(Ok(n)) => n,
            Ok(Err(_)) => return,
        };
        if n == 0 {
            return;
        }
        let complete = line.last() == Some(&b'\n');
        if !complete && line.len() > max_line {
            let why = format!("request longer than {max_line} bytes; connection closed");
            say_and_close(&mut write, &why, request).await;
            return;
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        // Each request is answered by the router in use when it arrived, whole.
        let router = now_serving(current);
        let reply = match monitors {
            Some(m) => answer_observed(&router, text.trim(), &mut |slot, model, seen, req| {
                m.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .record(slot, model, seen, req);
            }),
            None => answer(&router, text.trim()),
        };
        let reply = format!("{reply}\n");
        idle_until = deadline(idle);
        // A client that does not read its answers would otherwise hold its slot forever.
        match timeout(request, write.write_all(reply.as_bytes())).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return,
        }
    }
}

/// An answer line: the model id, the slot when not production, and the answer's fields.
#[derive(serde::Serialize)]
struct Reply<'a> {
    model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    slot: Option<&'static str>,
    #[serde(flatten)]
    answer: &'a crate::ops::score::Answer,
}

/// How the monitor counts a refused request: `contract` when the request does not follow the
/// model's contract (the client's fault), `scoring` for any other failure.
fn refusal_kind(e: &Error) -> &'static str {
    match e {
        Error::Data(DataError::Request { .. }) => "contract",
        _ => "scoring",
    }
}

/// The reply line to one request (no newline): answered by the production model or, for the
/// entities in its share, the canary; scored by the shadow too when in its sample (its answer
/// is never returned).
pub fn answer(router: &Router, request: &str) -> String {
    answer_seen(router, request, &mut |_, _, _| {})
}

/// [`answer`], telling `seen` what each model did with the request: its slot, the model, and
/// the request, answer or refusal and time taken (the monitor's input).
pub fn answer_seen(
    router: &Router,
    request: &str,
    seen: &mut dyn FnMut(&str, Digest, &crate::ops::monitor::Seen<'_>),
) -> String {
    answer_observed(router, request, &mut |slot, model, s, _| {
        seen(slot, model, s)
    })
}

/// [`answer_seen`], telling `seen` the request too (its entity key and text): what `serve`
/// gives the monitor's prediction log and request log.
pub fn answer_observed(
    router: &Router,
    request: &str,
    seen: &mut dyn FnMut(&str, Digest, &crate::ops::monitor::Seen<'_>, &Request<'_>),
) -> String {
    use crate::ops::monitor::Seen;
    let obj: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(request) {
        Ok(o) => o,
        Err(e) => {
            let scorer = &router.production;
            seen(
                &router.slot,
                scorer.model_id,
                &Seen {
                    row: None,
                    answer: None,
                    refused: Some("not json"),
                    micros: 0,
                },
                &Request {
                    key: None,
                    text: request,
                },
            );
            return json!({ "error": format!("not a JSON object: {e}") }).to_string();
        }
    };
    let key = router.entity_key(&obj);
    let req = Request {
        key: router.keyed().then_some(key.as_str()),
        text: request,
    };
    let route = router.route(&key);
    let scorer: &Scorer = router.scorer(route);
    let slot = match route {
        Route::Canary => crate::ops::rollout::CANARY,
        Route::Production => router.slot.as_str(),
    };
    if router.shadowed(&key)
        && let Some(sh) = &router.shadow
    {
        // Scored and dropped: what it would have said is for monitoring, never the client.
        let t = std::time::Instant::now();
        let a = sh.scorer.score_with_row(&obj);
        seen(
            crate::ops::rollout::SHADOW,
            sh.scorer.model_id,
            &Seen {
                row: a.as_ref().ok().map(|(_, r)| r.as_slice()),
                answer: a.as_ref().ok().map(|(a, _)| a),
                refused: a.as_ref().err().map(|_| "refused"),
                micros: u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX),
            },
            &req,
        );
    }
    let t = std::time::Instant::now();
    let scored = scorer.score_with_row(&obj);
    let micros = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
    seen(
        slot,
        scorer.model_id,
        &Seen {
            row: scored.as_ref().ok().map(|(_, r)| r.as_slice()),
            answer: scored.as_ref().ok().map(|(a, _)| a),
            refused: scored.as_ref().err().map(refusal_kind),
            micros,
        },
        &req,
    );
    match scored.map(|(a, _)| a) {
        // Serialized directly (not through a JSON value) so probabilities print as the same
        // f32 digits `airlock predict` prints.
        Ok(a) => serde_json::to_string(&Reply {
            model: scorer.model_id.hex(),
            slot: (route == Route::Canary).then_some(crate::ops::rollout::CANARY),
            answer: &a,
        })
        .unwrap_or_else(|e| {
            json!({ "error": format!("cannot encode the answer: {e}") }).to_string()
        }),
        Err(e) => json!({ "error": e.to_string() }).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_uid_holds_at_most_its_share_and_gets_it_back_on_close() {
        let uids = UidSlots::new(2);
        let a = uids.take(1000).expect("first");
        let b = uids.take(1000).expect("second");
        assert!(uids.take(1000).is_none(), "a third for the same uid");
        // Another uid still gets in while the first is at its limit.
        let other = uids.take(1001).expect("another uid");
        drop(a);
        let c = uids.take(1000).expect("a slot given back is free again");
        drop((b, c, other));
        let held = uids.held.lock().expect("not poisoned");
        assert!(held.is_empty(), "nothing left counted");
    }

    /// The monitor's refusal kind comes from the cause: a request that breaks the contract
    /// is `contract`, however its message reads; a runtime or other rejection is `scoring`.
    #[test]
    fn a_refusal_is_counted_by_its_cause() {
        let request = Error::Data(DataError::Request {
            contract: "credit v1".into(),
            problems: vec![", column \"age\": expected integer, found \"x\"".into()],
        });
        assert_eq!(refusal_kind(&request), "contract");
        let other = Error::Rejected("request does not follow contract credit v1".into());
        assert_eq!(refusal_kind(&other), "scoring");
        let runtime = Error::Integrity("model output is NaN".into());
        assert_eq!(refusal_kind(&runtime), "scoring");
    }

    #[test]
    fn durations_in_messages() {
        assert_eq!(show(Duration::from_secs(60)), "60 s");
        assert_eq!(show(Duration::from_millis(1500)), "1500 ms");
    }
}
