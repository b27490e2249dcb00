//! Tests of the server's per-uid limit, refusal kinds and messages.

use super::answer::refusal_kind;
use super::socket::{UidSlots, show};
use super::*;
use crate::error::DataError;

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
