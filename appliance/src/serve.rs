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
//! - a request line of at most `max_request_bytes`.
//!
//! The server loads and checks the deployed model once, at start ([`prepare`], which also
//! records `model.serve` in the audit log: a [`Prepared`] server exists only with its
//! record), and then releases the home: other commands run while it serves. It serves that
//! model until it is stopped (SIGTERM or Ctrl-C); deploy a new model, then restart it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

use crate::audit;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::home::Home;
use crate::lifecycle::Scorer;
use crate::registry::NameRef;

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
    scorer: Scorer,
    opts: ServeOptions,
}

impl Prepared {
    /// The model to be served.
    pub fn model(&self) -> Digest {
        self.scorer.model_id
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
    if opts.max_connections == 0 || opts.max_request_bytes == 0 {
        return Err(Error::Rejected(
            "--max-connections and --max-request-bytes must be at least 1".into(),
        ));
    }
    let scorer = Scorer::open(home, slot, features)?;
    if opts.allow_uids.is_empty() {
        opts.allow_uids.insert(nix::unistd::geteuid().as_raw());
    }
    let (conn, _, keys, _) = home.parts();
    let tx = conn.transaction()?;
    audit::append(
        &tx,
        keys,
        "model.serve",
        &[scorer.model_id.hex()],
        json!({ "slot": slot, "socket": opts.socket.display().to_string(), "allow_uids": opts.allow_uids,
                "feature_set": scorer.run.feature_set_ref }),
    )?;
    tx.commit()?;
    Ok(Prepared { scorer, opts })
}

/// Serves a [`Prepared`] model until SIGTERM or Ctrl-C. `on_ready` is called once the
/// socket accepts connections.
pub fn serve(prepared: Prepared, on_ready: impl FnOnce()) -> Result<()> {
    let Prepared { scorer, opts } = prepared;
    let opts = &opts;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::Rejected(format!("cannot start the server runtime: {e}")))?;
    rt.block_on(run(Arc::new(scorer), opts, on_ready))
}

async fn run(scorer: Arc<Scorer>, opts: &ServeOptions, on_ready: impl FnOnce()) -> Result<()> {
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
    let allow = Arc::new(opts.allow_uids.clone());
    on_ready();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Rejected(format!("cannot watch SIGTERM: {e}")))?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let permit = Arc::clone(&slots).try_acquire_owned();
                let (scorer, allow) = (Arc::clone(&scorer), Arc::clone(&allow));
                let (max_conn, max_line) = (opts.max_connections, opts.max_request_bytes);
                tokio::spawn(async move {
                    let Ok(_permit) = permit else {
                        refuse(stream, &format!("server busy: {max_conn} connections in use; try again")).await;
                        return;
                    };
                    connection(stream, &scorer, &allow, max_line).await;
                });
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    let _ = std::fs::remove_file(&opts.socket);
    Ok(())
}

async fn refuse(mut stream: UnixStream, why: &str) {
    let line = format!("{}\n", json!({ "error": why }));
    let _ = stream.write_all(line.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn connection(stream: UnixStream, scorer: &Scorer, allow: &BTreeSet<u32>, max_line: usize) {
    let uid = match stream.peer_cred() {
        Ok(c) => c.uid(),
        Err(e) => {
            refuse(stream, &format!("cannot read the peer's credentials: {e}")).await;
            return;
        }
    };
    if !allow.contains(&uid) {
        refuse(
            stream,
            &format!("uid {uid} is not allowed to use this server"),
        )
        .await;
        return;
    }
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        // One byte more than allowed tells an over-long line from one exactly at the limit.
        let mut limited = (&mut reader).take(max_line as u64 + 1);
        let n = match limited.read_until(b'\n', &mut line).await {
            Ok(n) => n,
            Err(_) => return,
        };
        if n == 0 {
            return;
        }
        let complete = line.last() == Some(&b'\n');
        if !complete && line.len() > max_line {
            let msg = json!({ "error": format!("request longer than {max_line} bytes; connection closed") });
            let _ = write.write_all(format!("{msg}\n").as_bytes()).await;
            let _ = write.shutdown().await;
            return;
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        let reply = answer(scorer, text.trim());
        if write
            .write_all(format!("{reply}\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// An answer line: the model id and the answer's fields.
#[derive(serde::Serialize)]
struct Reply<'a> {
    model: String,
    #[serde(flatten)]
    answer: &'a crate::lifecycle::Answer,
}

/// The reply line to one request (no newline).
pub fn answer(scorer: &Scorer, request: &str) -> String {
    let obj: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(request) {
        Ok(o) => o,
        Err(e) => return json!({ "error": format!("not a JSON object: {e}") }).to_string(),
    };
    match scorer.score_one(&obj) {
        // Serialized directly (not through a JSON value) so probabilities print as the same
        // f32 digits `airlock predict` prints.
        Ok(a) => serde_json::to_string(&Reply {
            model: scorer.model_id.hex(),
            answer: &a,
        })
        .unwrap_or_else(|e| {
            json!({ "error": format!("cannot encode the answer: {e}") }).to_string()
        }),
        Err(e) => json!({ "error": e.to_string() }).to_string(),
    }
}
