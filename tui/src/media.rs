//! The Media screen's data: the bundle files on mounted media (a folder given with `--media
//! DIR`, else the usual mount points), what the library says of one (`airlock bundle
//! inspect`), and the site cards beside them for the export wizard. Which files are bundles
//! is the library's word: its part discovery ([`Parts::discover`]) and the format's leader
//! check ([`format::check_leader`]); the console only lists folders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use airlock::bundle::format;
use airlock::bundle::import::{SequenceStatus, VerifiedManifest};
use airlock::bundle::media::Parts;
use airlock::node::home::Home;
use airlock::site::SiteCard;

use crate::load;
use crate::shown::Shown;

/// The usual mount points of removable media, under the system root: a folder per user
/// and per medium below the first two, a medium per folder below the last.
pub const MOUNT_POINTS: [(&str, usize); 3] = [("media", 2), ("run/media", 2), ("mnt", 1)];

/// Where the console looks for bundles.
#[derive(Clone, Debug)]
pub enum Where {
    /// The folder given with `--media DIR`.
    Given(PathBuf),
    /// The usual mount points under this system root (`/` but in tests).
    Mounted(PathBuf),
}

/// The Media screen.
#[derive(Clone, Debug, Default)]
pub struct MediaView {
    /// The folders searched (the given one, or the mounted media found).
    pub folders: Vec<PathBuf>,
    /// The same, escaped for the screen.
    pub folders_shown: Vec<Shown>,
    /// Whether the folders are the usual mount points (no `--media`).
    pub mounted: bool,
    /// The bundles found, a split bundle once (its first part).
    pub bundles: Vec<BundleRow>,
    /// Site cards found in the same folders, for the export wizard.
    pub cards: Vec<CardRow>,
    /// This site's name.
    pub site: Shown,
    /// The newest model held here as an export item (`model:ID`), the wizard's first guess.
    pub newest_model: Option<String>,
}

/// A bundle file found on the media.
#[derive(Clone, Debug)]
pub struct BundleRow {
    /// Its file, or its first part: what `bundle inspect`, `verify` and `import` are given.
    pub path: PathBuf,
    /// Its file name.
    pub name: Shown,
    /// The folder it is in.
    pub folder: Shown,
    /// Its part files (1 for a bundle in one file).
    pub parts: usize,
    /// Bytes on the media, every part together.
    pub bytes: u64,
    /// Why it cannot be read, for a file named like a bundle that is not one.
    pub problem: Option<Shown>,
}

/// A site card found on the media.
#[derive(Clone, Debug)]
pub struct CardRow {
    /// Its file.
    pub path: PathBuf,
    /// Its file name.
    pub name: Shown,
    /// The site it describes.
    pub site: Shown,
}

/// A bundle's manifest as `airlock bundle inspect` shows it: signature valid and origin
/// trusted, or the library's error instead.
#[derive(Clone, Debug)]
pub struct BundleDetail {
    /// The file inspected.
    pub path: PathBuf,
    /// The bundle id.
    pub id: Shown,
    /// The site that made it.
    pub origin: Shown,
    /// The site it is for.
    pub recipient: Shown,
    /// Its sequence number from that origin.
    pub sequence: u64,
    /// How that sequence looks here: `new`, or why an import would refuse it.
    pub sequence_says: Shown,
    /// Whether an import would refuse it as a replay.
    pub replayed: bool,
    /// When it was made (origin clock).
    pub created: Shown,
    /// When it expires.
    pub expires: Shown,
    /// Expired: an import refuses it.
    pub expired: bool,
    /// Made long before the newest bundle accepted here: an import needs `--allow-stale`.
    pub stale: bool,
    /// The part files found (names).
    pub files: Vec<Shown>,
    /// Payload parts the manifest lists.
    pub payload_parts: usize,
    /// Payload bytes.
    pub payload_bytes: u64,
    /// The objects, in stream order.
    pub objects: Vec<ObjectRow>,
}

/// One object a bundle carries.
#[derive(Clone, Debug)]
pub struct ObjectRow {
    /// What it is (`run`, `weights`, `dataset`...).
    pub kind: Shown,
    /// Its id.
    pub id: Shown,
    /// Its exact size in bytes.
    pub size: u64,
    /// The sites whose signatures it carries.
    pub signed_by: Shown,
}

impl BundleDetail {
    /// From the library's verified manifest (`bundle::import::inspect`).
    pub fn of(path: &Path, v: &VerifiedManifest) -> BundleDetail {
        let m = v.manifest();
        let fresh = v.freshness();
        let (sequence_says, replayed) = match v.sequence_status() {
            SequenceStatus::New => ("new".to_string(), false),
            SequenceStatus::Stale { last } => {
                (format!("NOT newer than {last}: would be refused"), true)
            }
        };
        BundleDetail {
            path: path.to_path_buf(),
            id: Shown::new(&v.bundle_id().hex()),
            origin: Shown::of(&m.origin_site),
            recipient: Shown::of(&m.recipient_site),
            sequence: m.sequence,
            sequence_says: Shown::new(&sequence_says),
            replayed,
            created: Shown::of(m.created_at),
            expires: Shown::of(m.expires_at),
            expired: fresh.expired,
            stale: fresh.stale,
            files: v.parts().files.iter().map(|f| file_name(&f.path)).collect(),
            payload_parts: m.payload.parts.len(),
            payload_bytes: m.payload.size,
            objects: m
                .objects
                .iter()
                .map(|e| ObjectRow {
                    kind: Shown::new(e.kind.as_str()),
                    id: Shown::new(&e.id.hex()),
                    size: e.size,
                    signed_by: Shown::new(
                        &e.attestations
                            .iter()
                            .map(|a| a.site.to_string())
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                })
                .collect(),
        }
    }

    /// Bytes of the objects it carries.
    pub fn object_bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.size).sum()
    }

    /// The objects counted by kind, in words (`1 run, 1 weights, 2 gate`).
    pub fn kinds(&self) -> String {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for o in &self.objects {
            *counts.entry(o.kind.as_str()).or_default() += 1;
        }
        counts
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The manifest as lines, as `airlock bundle inspect` prints it (ids in full).
    pub fn text(&self) -> Vec<String> {
        let mut out = vec![
            format!(
                "Bundle {} from site {} to site {}",
                self.id.as_str().chars().take(16).collect::<String>(),
                self.origin,
                self.recipient
            ),
            "Signature valid, origin trusted (airlock bundle inspect)".into(),
            format!("Sequence  {} ({})", self.sequence, self.sequence_says),
            format!("Created   {}", self.created),
            format!(
                "Expires   {}{}{}",
                self.expires,
                if self.expired {
                    "  EXPIRED: would be refused"
                } else {
                    ""
                },
                if self.stale {
                    "  STALE: needs --allow-stale"
                } else {
                    ""
                }
            ),
            format!(
                "Files     {} ({} part(s) of payload, {} payload bytes): {}",
                self.files.len(),
                self.payload_parts,
                self.payload_bytes,
                self.files
                    .iter()
                    .map(Shown::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "Objects   {}, {} bytes: {}",
                self.objects.len(),
                self.object_bytes(),
                self.kinds()
            ),
            format!("Id        {}", self.id),
            String::new(),
            format!("  {:<17} {:<16} {:>10}  signed by", "kind", "id", "bytes"),
        ];
        for o in &self.objects {
            out.push(format!(
                "  {:<17} {:<16} {:>10}  {}",
                o.kind.as_str(),
                o.id.as_str().chars().take(16).collect::<String>(),
                o.size,
                o.signed_by
            ));
        }
        out
    }
}

fn file_name(path: &Path) -> Shown {
    Shown::new(&path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    ))
}

/// The folders to search: the given one, or the mount points found under `root`.
pub fn folders(place: &Where) -> Vec<PathBuf> {
    match place {
        Where::Given(dir) => vec![dir.clone()],
        Where::Mounted(root) => {
            let mut found = Vec::new();
            for (base, depth) in MOUNT_POINTS {
                let mut level = vec![root.join(base)];
                for _ in 0..depth {
                    level = level.iter().flat_map(|d| subfolders(d)).collect();
                }
                found.extend(level);
            }
            found
        }
    }
}

/// The folders in `dir`, sorted, hidden ones left out; none when it cannot be read.
fn subfolders(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = entries(dir)
        .into_iter()
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
        .collect();
    out.sort();
    out
}

/// The entries of `dir` but hidden ones, sorted; none when it cannot be read.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// A later part of a split bundle (`NAME.002`...), listed with its first part.
fn later_part(path: &Path) -> bool {
    let text = path.as_os_str().to_string_lossy();
    text.rsplit_once('.').is_some_and(|(stem, number)| {
        number.len() >= 3
            && number.bytes().all(|b| b.is_ascii_digit())
            && number != "001"
            && Path::new(&format!("{stem}.001")).exists()
    })
}

/// Named like a bundle: listed with its problem when it is not one.
fn named_like_a_bundle(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with(".airlock") || name.ends_with(".001")
}

/// What a file on the media is: a bundle (or the first part of one), or nothing to list.
fn bundle_row(path: &Path, folder: &Path) -> Option<BundleRow> {
    if later_part(path) {
        return None;
    }
    let row = |parts: usize, bytes: u64, problem: Option<String>| BundleRow {
        path: path.to_path_buf(),
        name: file_name(path),
        folder: Shown::new(&folder.display().to_string()),
        parts,
        bytes,
        problem: problem.map(|p| Shown::new(&p)),
    };
    match Parts::discover(path) {
        Ok(parts) => {
            let mut leader = [0u8; format::LEADER_LEN as usize];
            let is_bundle = parts.read_exact_at(0, &mut leader).is_ok()
                && format::check_leader(&leader).is_ok();
            if is_bundle {
                Some(row(parts.files.len(), parts.total, None))
            } else if named_like_a_bundle(path) {
                Some(row(
                    parts.files.len(),
                    parts.total,
                    Some("not an Airlock bundle (its first bytes are not a bundle's)".into()),
                ))
            } else {
                None
            }
        }
        Err(e) if named_like_a_bundle(path) => Some(row(1, 0, Some(e.to_string()))),
        Err(_) => None,
    }
}

/// Largest file read as a possible site card.
const MAX_CARD: u64 = 64 * 1024;

/// A site card, if `path` is one (`airlock keys card` writes them as JSON).
fn card_row(path: &Path) -> Option<CardRow> {
    if !path.to_string_lossy().ends_with(".json") {
        return None;
    }
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_CARD {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let card = SiteCard::parse(&bytes, &path.display().to_string()).ok()?;
    Some(CardRow {
        path: path.to_path_buf(),
        name: file_name(path),
        site: Shown::of(&card.site),
    })
}

/// The Media screen: the bundles and site cards in the folders searched (each folder and
/// the folders in it), this site's name and its newest model.
pub fn load(home: &Home, place: &Where) -> airlock::Result<MediaView> {
    let folders = folders(place);
    let mut bundles = Vec::new();
    let mut cards = Vec::new();
    for folder in &folders {
        let mut files = Vec::new();
        for entry in entries(folder) {
            if std::fs::symlink_metadata(&entry).is_ok_and(|m| m.is_dir()) {
                files.extend(entries(&entry).into_iter().map(|f| (f, entry.clone())));
            } else {
                files.push((entry, folder.clone()));
            }
        }
        for (file, dir) in files {
            if let Some(b) = bundle_row(&file, &dir) {
                bundles.push(b);
            } else if let Some(c) = card_row(&file) {
                cards.push(c);
            }
        }
    }
    let newest_model = load::models(home)?
        .first()
        .map(|m| format!("model:{}", m.id_hex));
    Ok(MediaView {
        folders_shown: folders
            .iter()
            .map(|f| Shown::new(&f.display().to_string()))
            .collect(),
        folders,
        mounted: matches!(place, Where::Mounted(_)),
        bundles,
        cards,
        site: Shown::of(home.site()),
        newest_model,
    })
}

/// A byte count in words: `812 B`, `4.2 KiB`, `1.5 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_the_media_folders_two_or_one_levels_down() {
        let root = tempfile::tempdir().expect("tempdir");
        for d in [
            "media/ana/STICK",
            "run/media/ana/CARD",
            "mnt/usb",
            "mnt/.hidden",
        ] {
            std::fs::create_dir_all(root.path().join(d)).expect("mkdir");
        }
        std::fs::write(root.path().join("media/ana/file"), "").expect("write");
        let found = folders(&Where::Mounted(root.path().to_path_buf()));
        let rel: Vec<String> = found
            .iter()
            .map(|p| {
                p.strip_prefix(root.path())
                    .expect("under root")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(rel, ["media/ana/STICK", "run/media/ana/CARD", "mnt/usb"]);
    }

    #[test]
    fn later_parts_are_left_to_their_first_and_sizes_read_in_words() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = dir.path().join("b.airlock.001");
        let second = dir.path().join("b.airlock.002");
        std::fs::write(&first, "x").expect("write");
        std::fs::write(&second, "y").expect("write");
        assert!(later_part(&second));
        assert!(!later_part(&first));
        assert!(
            !later_part(&dir.path().join("lone.002")),
            "no first part beside it"
        );
        assert_eq!(bytes(812), "812 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn a_hostile_file_name_on_the_media_is_escaped_before_it_is_drawn() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hostile = dir.path().join("\u{1b}]0;owned\u{7}\u{202e}x.airlock");
        std::fs::write(&hostile, "no bundle").expect("write");
        let row = bundle_row(&hostile, dir.path()).expect("listed");
        let name = row.name.as_str();
        assert!(
            !name.chars().any(airlock::text::is_unsafe),
            "nothing unsafe survives: {name:?}"
        );
        assert!(name.contains("owned"), "{name:?}");
    }

    #[test]
    fn a_file_named_like_a_bundle_that_is_not_one_is_listed_with_its_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = dir.path().join("fake.airlock");
        std::fs::write(&fake, "not a bundle at all, just text").expect("write");
        let notes = dir.path().join("notes.txt");
        std::fs::write(&notes, "hello").expect("write");
        let row = bundle_row(&fake, dir.path()).expect("listed");
        assert!(
            row.problem
                .as_ref()
                .is_some_and(|p| p.as_str().contains("not an Airlock bundle")),
            "{row:?}"
        );
        assert!(
            bundle_row(&notes, dir.path()).is_none(),
            "not named like one"
        );
    }
}
