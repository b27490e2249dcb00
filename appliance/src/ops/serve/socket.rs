//! The socket server: binding the socket, admitting each connection under the limits (the
//! peer's uid, the connection counts), and reading and answering one connection's lines
//! within the idle and request timeouts.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;

use crate::error::{Error, IoContext, Result};
use crate::ops::rollout::Router;

use super::answer::{answer, answer_observed};
use super::{Current, ServeOptions, SharedMonitors, Watch, now_serving, watch_deployments};

/// Connections held per peer uid. A [`UidSlot`] counts one and gives it back when dropped.
#[derive(Clone, Debug)]
pub(super) struct UidSlots {
    pub(super) held: Arc<Mutex<HashMap<u32, usize>>>,
    per_uid: usize,
}

/// One connection counted against its uid's limit.
#[derive(Debug)]
pub(super) struct UidSlot {
    held: Arc<Mutex<HashMap<u32, usize>>>,
    uid: u32,
}

impl UidSlots {
    pub(super) fn new(per_uid: usize) -> UidSlots {
        UidSlots {
            held: Arc::default(),
            per_uid,
        }
    }

    /// A slot for `uid`, or `None` when it already holds `per_uid` connections.
    pub(super) fn take(&self, uid: u32) -> Option<UidSlot> {
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
pub(super) async fn run(
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
pub(super) fn show(d: Duration) -> String {
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
