//! The library called directly, as the demo and the coming console call it,
//! not through the `airlock` binary: the records the README promises are
//! appended by the library functions themselves.

use std::collections::BTreeSet;

use airlock::bundle::export::{self, Authority, ExportOptions, Item};
use airlock::error::exit;
use airlock::home::Home;
use airlock::personal::PassSource;
use airlock::serve::{self, ServeOptions};
use airlock::site::SiteCard;

use crate::harness::{World, audit_count, last_audit, store_fingerprint};

fn card(w: &World, site: &str) -> SiteCard {
    let path = w.media(&format!("{site}.card.json"));
    SiteCard::parse(&std::fs::read(&path).unwrap(), "card").unwrap()
}

fn options() -> ExportOptions<'static> {
    ExportOptions {
        with_data: false,
        expires_in_days: 30,
        split: None,
        operator: Authority::Nobody,
    }
}

#[test]
fn serve_prepare_records_model_serve_in_the_audit_log() {
    let w = World::new();
    let socket = w.media("plant.sock");
    let opts = |max_connections| ServeOptions {
        socket: socket.clone(),
        allow_uids: BTreeSet::new(),
        max_connections,
        max_request_bytes: 4096,
        max_connections_per_uid: 1,
        request_timeout: std::time::Duration::from_secs(10),
        idle_timeout: std::time::Duration::from_secs(60),
    };

    // Bad options: refused before anything is opened or recorded.
    let before = audit_count(&w.plant());
    {
        let mut home = Home::open(&w.plant()).unwrap();
        let e = serve::prepare(&mut home, "production", None, opts(0))
            .err()
            .expect("0 connections refused");
        assert_eq!(e.exit_code(), exit::REJECTED, "{e}");
    }
    assert_eq!(audit_count(&w.plant()), before);

    let mut home = Home::open(&w.plant()).unwrap();
    let prepared = serve::prepare(&mut home, "production", None, opts(4)).unwrap();
    drop(home);
    let me = nix::unistd::geteuid().as_raw();
    assert_eq!(
        prepared.options().allow_uids,
        BTreeSet::from([me]),
        "an empty allow list means the uid serving"
    );
    let (action, details) = last_audit(&w.plant());
    assert_eq!(action, "model.serve", "{details}");
    assert_eq!(details["slot"], "production");
    assert_eq!(details["socket"], socket.display().to_string());
    assert_eq!(details["allow_uids"], serde_json::json!([me]));
    assert_eq!(details["feature_set"], "credit-features@1");
    assert_eq!(audit_count(&w.plant()), before + 1);
    assert_eq!(prepared.model().hex(), w.model());
}

#[test]
fn export_refusals_are_recorded_by_the_library() {
    let w = World::new();
    let model = w.model();

    // A target that exists (setup mode at lab: no operator needed).
    let taken = w.media("taken.airlock");
    std::fs::write(&taken, b"not a bundle").unwrap();
    let before = store_fingerprint(&w.lab());
    let mut lab = Home::open(&w.lab()).unwrap();
    let e = export::export(
        &mut lab,
        &card(&w, "plant"),
        &[Item::Model(model.clone())],
        options(),
        &taken,
        &mut |_, _| {},
    )
    .expect_err("an existing target is refused");
    drop(lab);
    let (action, details) = last_audit(&w.lab());
    assert_eq!(action, "bundle.export_refused", "{details}");
    assert!(
        details["reason"]
            .as_str()
            .unwrap()
            .contains("already exists"),
        "{details} / {e}"
    );
    assert_eq!(store_fingerprint(&w.lab()), before);

    // Under plant's policy an export needs an operator holding `export`:
    // none at all, and omar (approve, deploy) unlocked by the library, are
    // both refused and recorded, for a model and for the audit log alike.
    let out = w.media("from-plant.airlock");
    let omar = || Authority::Unlock {
        name: "omar".into(),
        pass: PassSource::File(w.media("omar.pass")),
    };
    for (who, audit_log) in [
        (Authority::Nobody, false),
        (omar(), false),
        (Authority::Nobody, true),
        (omar(), true),
    ] {
        let described = format!("{who:?} audit_log={audit_log}");
        let before = audit_count(&w.plant());
        let mut plant = Home::open(&w.plant()).unwrap();
        let opts = ExportOptions {
            operator: who,
            ..options()
        };
        let r = if audit_log {
            export::export_audit(&mut plant, &card(&w, "lab"), opts, &out, &mut |_, _| {})
        } else {
            export::export(
                &mut plant,
                &card(&w, "lab"),
                &[Item::Model(model.clone())],
                opts,
                &out,
                &mut |_, _| {},
            )
        };
        drop(plant);
        let e = r.expect_err(&described);
        assert_eq!(e.exit_code(), exit::REFUSED, "{described}: {e}");
        assert!(e.to_string().contains("export"), "{described}: {e}");
        let (action, details) = last_audit(&w.plant());
        assert_eq!(action, "bundle.export_refused", "{described}: {details}");
        assert_eq!(audit_count(&w.plant()), before + 1, "{described}");
        assert!(!out.exists(), "{described}");
    }
}
