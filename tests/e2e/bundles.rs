use std::fs;

use crate::harness::{
    IMPORT_REFUSED as REFUSED, World, assert_refused, fails, fingerprint, import_refused, ok, refs,
    store_fingerprint,
};

fn import_args(p: &std::path::Path) -> Vec<String> {
    vec!["bundle".into(), "import".into(), p.display().to_string()]
}

#[test]
fn bundle_with_one_flipped_byte_is_refused_and_nothing_is_written() {
    let w = World::new();
    let b = w.fresh_bundle("fresh.airlock");
    let bytes = fs::read(&b).unwrap();
    let before = store_fingerprint(&w.plant());
    let find = |pat: &[u8]| -> Vec<usize> {
        bytes
            .windows(pat.len())
            .enumerate()
            .filter(|(_, w)| *w == pat)
            .map(|(i, _)| i)
            .collect()
    };
    // Two age headers: the body's first, the trailer's (manifest) last.
    let macs = find(b"\n---");
    let stanzas = find(b"-> X25519");
    assert_eq!((macs.len(), stanzas.len()), (2, 2));
    // A byte in the leader, the body's header MAC and recipient stanza, the
    // middle of the body, the manifest's header MAC and stanza, and the
    // footer: every one is caught before anything is written.
    for (name, pos, code, needle) in [
        ("leader", 5, 4, "not an Airlock bundle"),
        ("body-mac", macs[0] + 6, 4, "part 1 ("),
        ("body-stanza", stanzas[0] + 12, 4, "part 1 ("),
        ("body", bytes.len() / 3, 4, "is damaged"),
        ("manifest-mac", macs[1] + 6, 4, "the manifest"),
        (
            "manifest-stanza",
            stanzas[1] + 12,
            5,
            "or its header was damaged in transit",
        ),
        ("footer", bytes.len() - 3, 4, "the footer is damaged"),
    ] {
        let mut bad = bytes.clone();
        if name.ends_with("stanza") {
            // Another valid base64 letter: the stanza still parses, but
            // names a key share that opens nothing.
            bad[pos] = if bad[pos] == b'A' { b'B' } else { b'A' };
        } else {
            bad[pos] ^= 0x01;
        }
        let f = w.media(&format!("flipped-{name}.airlock"));
        fs::write(&f, &bad).unwrap();
        fails(
            &w.plant(),
            &refs(&import_args(&f)),
            code,
            &["bundle rejected", &f.display().to_string(), needle],
        );
        assert_refused(&w.plant(), &before, REFUSED, needle);
    }
    // The intact bundle still imports afterwards.
    let out = ok(&w.plant(), &refs(&import_args(&b)));
    assert!(out.contains("(sequence 2) from site lab"), "{out}");
}

#[test]
fn truncated_bundle_is_refused_at_every_cut() {
    let w = World::new();
    let b = w.fresh_bundle("fresh.airlock");
    let bytes = fs::read(&b).unwrap();
    let before = store_fingerprint(&w.plant());
    for cut in [10, 100, bytes.len() / 2, bytes.len() - 30, bytes.len() - 1] {
        let f = w.media(&format!("cut-{cut}.airlock"));
        fs::write(&f, &bytes[..cut]).unwrap();
        fails(&w.plant(), &refs(&import_args(&f)), 4, &["bundle rejected"]);
        assert_refused(&w.plant(), &before, REFUSED, "bundle rejected");
    }
}

#[test]
fn bundle_for_another_site_is_refused() {
    let w = World::new();
    let depot = w.add_site("depot");
    ok(&w.lab(), &["trust", "add", &w.m("depot.card.json")]);
    let f = w.export(&w.lab(), "depot", "for-depot.airlock", &[&w.model()]);
    import_refused(&w.plant(), &f, 5, "is not encrypted to this site (plant)");
    // The depot itself accepts it.
    ok(&depot, &["trust", "add", &w.m("lab.card.json")]);
    ok(&depot, &refs(&import_args(&f)));
}

#[test]
fn bundle_from_an_untrusted_site_is_refused() {
    let w = World::new();
    let rogue = w.add_site("rogue");
    ok(&rogue, &["trust", "add", &w.m("plant.card.json")]);
    ok(&rogue, &refs(&w.ingest_args(&w.m("credit.csv"))));
    let f = w.export(&rogue, "plant", "from-rogue.airlock", &["dataset:credit"]);
    import_refused(
        &w.plant(),
        &f,
        5,
        "comes from site \"rogue\", which this node does not trust",
    );
    let strict = fingerprint(&w.plant());
    fails(
        &w.plant(),
        &["bundle", "inspect", &f.display().to_string()],
        5,
        &["does not trust"],
    );
    assert_eq!(fingerprint(&w.plant()), strict, "inspect writes nothing");
}

#[test]
fn bundle_imported_twice_is_refused_as_replay_and_older_as_rollback() {
    let w = World::new();
    // The demo already imported this bundle (sequence 1).
    import_refused(
        &w.plant(),
        &w.media("lab-to-plant.airlock"),
        5,
        "sequence 1 from site \"lab\" is not newer than 1 already imported (replay or rollback?)",
    );
    let two = w.fresh_bundle("two.airlock");
    let three = w.fresh_bundle("three.airlock");
    ok(&w.plant(), &refs(&import_args(&three)));
    import_refused(
        &w.plant(),
        &two,
        5,
        "sequence 2 from site \"lab\" is not newer than 3",
    );
}

#[test]
fn bundle_inspect_verifies_and_shows_the_manifest() {
    let w = World::new();
    let b = w.fresh_bundle("fresh.airlock");
    let out = ok(&w.plant(), &["bundle", "inspect", &b.display().to_string()]);
    assert!(
        out.contains("from site lab to site plant (signature valid, origin trusted)"),
        "{out}"
    );
    assert!(out.contains("sequence 2 (new)"), "{out}");
    for kind in [
        "contract",
        "dataset",
        "feature-set",
        "weights",
        "run",
        "gate",
        "approval",
    ] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(kind)),
            "no {kind} in:\n{out}"
        );
    }
    let json = ok(
        &w.plant(),
        &["--json", "bundle", "inspect", &b.display().to_string()],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["manifest"]["origin_site"], "lab");
    assert_eq!(v["manifest"]["recipient_site"], "plant");
    // Seven records and the five provenance statements of their making.
    assert_eq!(v["manifest"]["objects"].as_array().unwrap().len(), 12);
    // Inspecting writes nothing.
    let before = fingerprint(&w.plant());
    ok(&w.plant(), &["bundle", "inspect", &b.display().to_string()]);
    assert_eq!(fingerprint(&w.plant()), before);
}

#[test]
fn export_with_data_carries_the_raw_snapshot_so_the_peer_can_retrain() {
    let w = World::new();
    let f = w.media("with-data.airlock");
    ok(
        &w.lab(),
        &[
            "bundle",
            "export",
            "--with-data",
            "--to",
            &w.m("plant.card.json"),
            "--out",
            &f.display().to_string(),
            &w.model(),
        ],
    );
    ok(&w.plant(), &refs(&import_args(&f)));
    let out = ok(
        &w.plant(),
        &[
            "train",
            "--dataset",
            "lab/credit",
            "--features",
            "lab/credit-features",
            "--model",
            "logreg",
            "--epochs",
            "3",
        ],
    );
    assert!(out.contains("trained binary model"), "{out}");
}

#[test]
fn signatures_of_unknown_sites_are_dropped_but_one_trusted_signer_is_required() {
    let w = World::new();
    // Plant ingests the same contract lab made: the contract object now
    // carries signatures by both lab and plant.
    ok(&w.plant(), &refs(&w.ingest_args(&w.m("credit.csv"))));
    let depot = w.add_site("depot");
    // Plant is governed by its trust policy: depot is added, and omar may
    // export, by policy v2.
    let card = w.media("depot.card.json");
    w.plant_policy(|t| {
        t.replace(
            r#"roles = ["approve", "deploy"]"#,
            r#"roles = ["approve", "deploy", "export"]"#,
        ) + &crate::harness::peer_toml(&card)
    });
    ok(&depot, &["trust", "add", &w.m("plant.card.json")]);
    let mut items = vec!["dataset:credit".to_string()];
    items.extend(w.as_op("omar"));
    let f = w.export(
        &w.plant(),
        "depot",
        "plant-to-depot.airlock",
        &crate::harness::refs(&items),
    );
    let shown = ok(&depot, &["bundle", "inspect", &f.display().to_string()]);
    assert!(
        shown.lines().any(|l| l.trim_start().starts_with("contract")
            && l.contains("lab")
            && l.contains("plant")),
        "{shown}"
    );
    // Depot knows nothing of lab: lab's signature is dropped, plant's suffices.
    ok(&depot, &refs(&import_args(&f)));
    // Lab's provenance statement about the shared contract is not evidence
    // at depot: dropped, and the drop recorded.
    let (_, details) = crate::harness::last_audit(&depot);
    assert_eq!(
        details["untrusted_statements_dropped"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "{details}"
    );
    let conn = rusqlite::Connection::open(depot.join("store.db")).unwrap();
    let lab_sigs: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM signatures WHERE site = 'lab'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        lab_sigs, 0,
        "signatures by untrusted sites must not be stored"
    );

    // A model made and signed only by lab cannot pass through plant to depot.
    let mut items = vec![w.model()];
    items.extend(w.as_op("omar"));
    let g = w.export(&w.plant(), "depot", "model-to-depot.airlock", &refs(&items));
    import_refused(
        &depot,
        &g,
        5,
        "is signed only by lab, which this node does not trust",
    );
}
