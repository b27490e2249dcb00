#!/usr/bin/env python3
"""Compare the two sides of bench/evaluate.sh and summarise them for its report.

Usage: evaluate_compare.py PEER_JSON EVALUATIONS_JSON EVALUATION_ID GATE_JSON TOLERANCE > compare.json

  PEER_JSON         bench/evaluate_peer.py's answer
  EVALUATIONS_JSON  the evaluation records appliance/examples/eval_export.rs wrote
  EVALUATION_ID     the one the gate made
  GATE_JSON         `airlock --json gate` output (the report)
  TOLERANCE         largest difference allowed in a fairness figure

Fairness figures (per group rows, selection rate, true and false positive rates;
demographic parity difference and ratio; equalized odds difference) must agree to
TOLERANCE; a difference, or groups or row counts that differ, is a problem, and the
script exits 1 after printing. Slice metrics are compared and their largest
differences reported; permutation importance is listed side by side (the two sides
draw different permutations, so the figures agree only statistically).
"""

import json
import sys

SLICE_METRICS = ["accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss",
                 "brier", "positive_rate"]


def last_json(path):
    """The last line of the file that is a JSON object, or the whole file (pretty-printed)."""
    text = open(path).read()
    lines = [l for l in text.splitlines() if l.startswith("{") and l.rstrip().endswith("}")]
    return json.loads(lines[-1] if lines else text)


def fairness_diff(ev, peer, problems):
    worst = 0.0
    for rep in ev["fairness"]:
        name = rep["attribute"]
        mine = rep["fairness"]
        theirs = peer["fairness"][name]
        groups = {g["group"]: g for g in mine["groups"]}
        if set(groups) != set(theirs["by_group"]):
            problems.append(f"{name}: groups {sorted(groups)} against {sorted(theirs['by_group'])}")
            continue
        for g, t in theirs["by_group"].items():
            a = groups[g]
            if a["rows"] != t["count"]:
                problems.append(f"{name}={g}: {a['rows']} rows against {t['count']}")
            for k in ("selection_rate", "true_positive_rate", "false_positive_rate"):
                worst = max(worst, abs(a[k] - t[k]))
        sel, tpr, fpr = mine["selection"], mine["true_positive"], mine["false_positive"]
        for a, t in ((sel["difference"], theirs["demographic_parity_difference"]),
                     (sel["ratio"], theirs["demographic_parity_ratio"]),
                     (max(tpr["difference"], fpr["difference"]),
                      theirs["equalized_odds_difference"])):
            worst = max(worst, abs(a - t))
    return worst


def slice_diff(ev, peer, problems):
    worst = {m: 0.0 for m in SLICE_METRICS}
    for rep in ev["slices"]:
        for g in rep["groups"]:
            t = peer["slices"][g["value"]]
            if g["rows"] != t["count"]:
                problems.append(f"slice {g['value']}: {g['rows']} rows against {t['count']}")
            for m in SLICE_METRICS:
                worst[m] = max(worst[m], abs(g["metrics"][m] - t[m]))
    return worst


def gate_summary(report):
    counts = {}
    failed = []
    for c in report["checks"]:
        v = c.get("verdict") or ("pass" if c["passed"] else "fail")
        counts[v] = counts.get(v, 0) + 1
        if v in ("fail", "review"):
            subject = f" [{c['subject']}]" if c.get("subject") else ""
            failed.append(f"{v} {c['section']} {c['metric']}{subject} {c['value']:.4f}")
    text = f"{len(report['checks'])} checks (" + ", ".join(
        f"{n} {k}" for k, n in sorted(counts.items())) + ")"
    if failed:
        text += ": " + "; ".join(failed)
    return text


def importance_table(ev, peer):
    rows = []
    for i in ev["importance"]:
        t = peer["importance"][i["feature"]]
        rows.append((i["feature"], i["mean"], i["std"], t["mean"], t["std"]))
    rows.sort(key=lambda r: -r[1])
    out = ["| feature | Airlock mean ± std | scikit-learn mean ± std |", "|---|---:|---:|"]
    for f, am, asd, pm, psd in rows:
        out.append(f"| {f} | {am:+.4f} ± {asd:.4f} | {pm:+.4f} ± {psd:.4f} |")
    return "\n".join(out)


def main(argv):
    peer_path, evals_path, eval_id, gate_path, tolerance = argv
    peer = last_json(peer_path)
    evals = {e["id"]: e for e in json.load(open(evals_path))}
    ev = evals[eval_id]
    report = last_json(gate_path)
    problems = []
    fair = fairness_diff(ev, peer, problems)
    if fair > float(tolerance):
        problems.append(f"fairness differs by {fair:.3g} (> {tolerance})")
    slices = slice_diff(ev, peer, problems)
    print(json.dumps({
        "fairness_max_diff": fair,
        "slice_max_diff": slices,
        "slice_diffs": ", ".join(f"{k} {v:.1e}" for k, v in slices.items()),
        "importance_table": importance_table(ev, peer),
        "gate": gate_summary(report),
        "roc_auc": ev["metrics"]["roc_auc"],
        "accuracy": ev["metrics"]["accuracy"],
        "problems": problems,
    }))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
