//! Shared by the console's integration tests: a demo world made once per test binary, a
//! sealed made-up system root, running the console on key presses into a `TestBackend`, and
//! the filter that takes ids and times out of screen text.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use airlock_tui::{App, Console, Theme};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

/// The two-site demo (`airlock demo --workdir`): lab trained, gated and approved (by dana) a
/// model; plant, under a trust policy, imported it, and omar approved and deployed it.
pub struct World {
    _dir: tempfile::TempDir,
    /// The workdir.
    pub root: PathBuf,
}

impl World {
    pub fn lab(&self) -> PathBuf {
        self.root.join("lab")
    }
    pub fn plant(&self) -> PathBuf {
        self.root.join("plant")
    }
    /// An operator's passphrase, as the demo wrote it.
    pub fn passphrase(&self, operator: &str) -> String {
        let p = self.root.join("media").join(format!("{operator}.pass"));
        std::fs::read_to_string(&p)
            .expect("demo passphrase")
            .trim_end()
            .to_string()
    }
}

/// Makes a demo world (a few seconds: it trains a model in the sandboxed worker).
pub fn make_world() -> World {
    let exe = std::env::current_exe().expect("test exe");
    let beside = exe
        .ancestors()
        .skip(1)
        .take(2)
        .any(|d| d.join("airlock-worker").is_file());
    assert!(
        beside || std::env::var_os("AIRLOCK_WORKER").is_some(),
        "the demo trains in the airlock-worker program, which is not built beside {}: run \
         `cargo build --locked -p airlock-worker` first (cargo test --workspace builds it)",
        exe.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("demo");
    airlock::demo::run(&root, &mut |_| {}).expect("demo");
    World { _dir: dir, root }
}

/// A program cargo builds beside the test binaries (`airlock`, `airlock-tui`): `cargo test
/// --workspace` builds them all.
pub fn program(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not built beside {}: run `cargo build --locked --workspace` first \
                 (cargo test --workspace builds it)",
                exe.display()
            )
        })
}

/// Runs `airlock --home HOME ARGS...` and requires success; returns stdout.
pub fn airlock(home: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(program("airlock"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("AIRLOCK_HOME")
        .output()
        .expect("run airlock");
    assert!(
        out.status.success(),
        "airlock {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// Copies a demo world (homes, media, root key) to `to`, every file and folder with its mode,
/// so the copy is a world of its own in the same state.
pub fn copy_world(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = std::fs::symlink_metadata(&src).expect("stat");
        if meta.is_dir() {
            copy_world(&src, &dst);
        } else if meta.is_file() {
            std::fs::copy(&src, &dst).expect("copy");
        }
        std::fs::set_permissions(
            &dst,
            std::fs::Permissions::from_mode(meta.permissions().mode()),
        )
        .expect("chmod");
    }
}

/// One demo world per test binary.
pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(make_world)
}

/// A system root where only loopback is up and there is no default route.
pub fn sealed_system() -> &'static Path {
    static ROOT: OnceLock<tempfile::TempDir> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = tempfile::tempdir().expect("tempdir");
        let lo = root.path().join("sys/class/net/lo");
        std::fs::create_dir_all(&lo).expect("mkdir");
        std::fs::write(lo.join("operstate"), "unknown\n").expect("write");
        std::fs::write(lo.join("type"), "772\n").expect("write");
        std::fs::create_dir_all(root.path().join("proc/net")).expect("mkdir");
        std::fs::write(
            root.path().join("proc/net/route"),
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n",
        )
        .expect("write");
        std::fs::write(root.path().join("proc/net/ipv6_route"), "").expect("write");
        root
    })
    .path()
}

/// The console on `home` as `operator`, reading the sealed system root.
pub fn console(home: &Path, operator: Option<&str>) -> Console {
    Console::new(home, operator).with_system_root(sealed_system())
}

/// A key press.
pub fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// Key presses for each character of `s`.
pub fn text(s: &str) -> Vec<Event> {
    s.chars().map(|c| key(KeyCode::Char(c))).collect()
}

/// Runs the console on `keys` at `width`×`height` and returns the last screen drawn, with
/// the app's final state.
pub fn run(
    console: &Console,
    app: &mut App,
    keys: Vec<Event>,
    width: u16,
    height: u16,
    theme: &Theme,
) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    airlock_tui::run(&mut terminal, app, console, &mut keys.into_iter(), theme).expect("run");
    terminal.backend().buffer().clone()
}

/// The default theme of the snapshots: Unicode borders, colour allowed.
pub const THEME: Theme = Theme {
    color: true,
    ascii: false,
};

/// A screen as text, one line per row.
pub fn lines(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Screen text with what differs between runs taken out, keeping every column in place:
/// RFC 3339 times become `YYYY-MM-DDTHH:MM:SSZ`, runs of 8 or more hex digits (ids, key
/// ids) as many `#`, and a token that a border cuts off at a line's right edge (part of an id
/// or a time in a truncated column) as many `~`.
pub fn filtered(screen: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for line in screen.lines() {
        let mut l = filter_line(line);
        if let Some(prev) = out.last() {
            l = continued(prev, &l);
        }
        out.push(l);
    }
    out.join("\n") + "\n"
}

/// An id wrapped onto the next line leaves its last few hex digits there: when the line
/// before ends in a filtered id, a short run of hex digits opening this line (after the
/// border and spaces) and closing a quoted string is the id's end, and is filtered too.
fn continued(prev: &str, line: &str) -> String {
    let inner = |l: &str| {
        l.trim_end()
            .trim_end_matches(['│', '|'])
            .trim_end()
            .to_string()
    };
    if !inner(prev).ends_with('#') {
        return line.to_string();
    }
    let c: Vec<char> = line.chars().collect();
    let start = c
        .iter()
        .position(|ch| !matches!(ch, '│' | '|' | ' '))
        .unwrap_or(c.len());
    let hex = c[start..]
        .iter()
        .take_while(|ch| ch.is_ascii_digit() || ('a'..='f').contains(ch))
        .count();
    // Only the end of a quoted id (`bf",` in an audit record's JSON).
    if hex == 0 || hex >= 8 || c.get(start + hex) != Some(&'"') {
        return line.to_string();
    }
    let mut s: String = c[..start].iter().collect();
    s.extend(std::iter::repeat_n('#', hex));
    s.extend(&c[start + hex..]);
    s
}

fn filter_line(line: &str) -> String {
    let c: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let is_time = |at: usize| -> usize {
        // YYYY-MM-DDTHH:MM:SSZ
        let pat = "dddd-dd-ddTdd:dd:ddZ";
        if at + pat.len() > c.len() {
            return 0;
        }
        for (k, p) in pat.chars().enumerate() {
            let ch = c[at + k];
            let ok = if p == 'd' {
                ch.is_ascii_digit()
            } else {
                ch == p
            };
            if !ok {
                return 0;
            }
        }
        pat.len()
    };
    while i < c.len() {
        let t = is_time(i);
        if t > 0 {
            out.push_str("YYYY-MM-DDTHH:MM:SSZ");
            i += t;
            continue;
        }
        let hex = c[i..]
            .iter()
            .take_while(|ch| ch.is_ascii_digit() || ('a'..='f').contains(ch))
            .count();
        let at_word_start = i == 0 || !c[i - 1].is_ascii_alphanumeric();
        if hex >= 8 && at_word_start && !c.get(i + hex).is_some_and(|ch| ch.is_ascii_alphanumeric())
        {
            out.extend(std::iter::repeat_n('#', hex));
            i += hex;
            continue;
        }
        out.push(c[i]);
        i += 1;
    }
    cut_at_border(&out)
}

/// Replaces the token a right border cuts (hex digits, `-:.TZ`: part of an id or a time)
/// with `~`.
fn cut_at_border(line: &str) -> String {
    let c: Vec<char> = line.chars().collect();
    let Some(last) = c.iter().rposition(|ch| !ch.is_whitespace()) else {
        return line.to_string();
    };
    if !matches!(c[last], '│' | '|') || last == 0 {
        return line.to_string();
    }
    let token = |ch: &char| ch.is_ascii_hexdigit() || matches!(ch, '-' | ':' | 'T' | 'Z' | '.');
    let start = c[..last]
        .iter()
        .rposition(|ch| !token(ch))
        .map_or(0, |p| p + 1);
    // Only a token starting a word: the end of an id or time, not the end of "passed".
    if start == last || (start > 0 && c[start - 1].is_ascii_alphanumeric()) {
        return line.to_string();
    }
    let mut s: String = c[..start].iter().collect();
    s.extend(std::iter::repeat_n('~', last - start));
    s.extend(&c[last..]);
    s
}
