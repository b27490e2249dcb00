use super::*;
use crate::bundle::format::{MIN_SPLIT, Payload};
use std::fs::{self};
use std::io::{Read, Write};
use std::path::Path;

#[test]
fn split_sizes_parse() {
    assert_eq!(parse_split("fat32").expect("fat32"), FAT32_MAX);
    assert_eq!(parse_split("64K").expect("k"), 64 << 10);
    assert_eq!(parse_split("4000M").expect("m"), 4000 << 20);
    assert_eq!(parse_split("4700MB").expect("mb"), 4_700_000_000);
    assert_eq!(parse_split("4g").expect("g"), 4 << 30);
    assert!(parse_split("1K").is_err(), "under the minimum");
    assert!(parse_split("lots").is_err());
    assert!(parse_split("99999999999999999999G").is_err(), "overflow");
}

fn write_parts(base: &Path, split: Option<u64>, payload: &[u8], rest: &[u8]) -> Payload {
    let mut w = PartsWriter::create(base, split).expect("create");
    w.write_all(payload).expect("payload");
    let p = w.end_payload();
    w.write_all(rest).expect("rest");
    w.finish().expect("finish").persist().expect("persist");
    p
}

#[test]
fn parts_round_trip_and_a_damaged_part_is_named() {
    let dir = tempfile::tempdir().expect("dir");
    let base = dir.path().join("b.bundle");
    let payload: Vec<u8> = (0..(MIN_SPLIT * 2 + 100))
        .map(|i| (i % 251) as u8)
        .collect();
    let p = write_parts(&base, Some(MIN_SPLIT), &payload, b"trailer");
    assert_eq!(p.parts.len(), 3);
    p.check().expect("layout");
    assert!(part_path(&base, 3).is_file() && !part_path(&base, 4).exists());

    let parts = Parts::discover(&part_path(&base, 1)).expect("discover");
    assert_eq!(parts.files.len(), 3);
    parts.check_layout(&p).expect("sizes");
    let mut all = Vec::new();
    PayloadReader::new(&parts, &p)
        .read_to_end(&mut all)
        .expect("read");
    assert_eq!(all, payload);
    assert!(parts.diagnose(&p).is_empty());

    // Damage part 2 and the reader fails; the diagnosis names it.
    let second = part_path(&base, 2);
    let mut bytes = fs::read(&second).expect("read");
    bytes[10] ^= 1;
    fs::write(&second, bytes).expect("write");
    let parts = Parts::discover(&base).expect("discover from the base name");
    let err = Parts::discover(&second).expect_err("a later part");
    assert!(err.to_string().contains("give the first part"), "{err}");
    let err = PayloadReader::new(&parts, &p)
        .read_to_end(&mut Vec::new())
        .expect_err("damaged");
    assert!(err.to_string().contains("part 2"), "{err}");
    let named = parts.diagnose(&p);
    assert_eq!(named.len(), 1);
    assert!(named[0].starts_with("part 2 ("), "{named:?}");
}

#[test]
fn a_short_part_is_named_before_reading() {
    let dir = tempfile::tempdir().expect("dir");
    let base = dir.path().join("b");
    let payload = vec![7u8; (MIN_SPLIT * 2) as usize];
    let p = write_parts(&base, Some(MIN_SPLIT), &payload, b"t");
    let first = part_path(&base, 1);
    let f = fs::OpenOptions::new()
        .write(true)
        .open(&first)
        .expect("open");
    f.set_len(MIN_SPLIT - 1).expect("truncate");
    let err = Parts::discover(&first)
        .expect("discover")
        .check_layout(&p)
        .expect_err("short");
    assert!(err.to_string().contains("part 1"), "{err}");
}

#[test]
fn links_and_folders_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let real = dir.path().join("real");
    fs::write(&real, b"x").expect("write");
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let err = Parts::discover(&link).expect_err("symlink");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    let hard = dir.path().join("hard");
    fs::hard_link(&real, &hard).expect("hard link");
    let err = Parts::discover(&hard).expect_err("hard link");
    assert!(err.to_string().contains("hard link"), "{err}");
    let err = Parts::discover(dir.path()).expect_err("folder");
    assert!(err.to_string().contains("not a plain file"), "{err}");
    let err = Parts::discover(Path::new("/dev/null")).expect_err("device");
    assert!(err.to_string().contains("not a plain file"), "{err}");
}

#[test]
fn existing_targets_are_not_overwritten() {
    let dir = tempfile::tempdir().expect("dir");
    let base = dir.path().join("b");
    fs::write(part_path(&base, 1), b"old").expect("write");
    // A stale part of an earlier bundle would be mixed into this one.
    assert!(PartsWriter::create(&base, Some(MIN_SPLIT)).is_err());
    assert!(PartsWriter::create(&base, None).is_err());
    fs::remove_file(part_path(&base, 1)).expect("remove");
    fs::write(part_path(&base, 7), b"old").expect("write");
    assert!(PartsWriter::create(&base, Some(MIN_SPLIT)).is_err());
    assert!(PartsWriter::create(&dir.path().join("other"), Some(MIN_SPLIT)).is_ok());
}
