//! The answer to one request line: routed to production or the canary, scored by the
//! shadow too when in its sample, and what each model did told to the monitor.

use serde_json::json;

use crate::digest::Digest;
use crate::error::{DataError, Error};
use crate::ops::rollout::{Route, Router};
use crate::ops::score::Scorer;

use super::Request;

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
pub(super) fn refusal_kind(e: &Error) -> &'static str {
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
