#!/usr/bin/env python3
"""The Python side of bench/evaluate.sh: Fairlearn's MetricFrame and scikit-learn's
permutation_importance on the same predictions as Airlock's gate.

Usage: evaluate_peer.py CSV EXPORT_DIR SENSITIVE_JSON SLICE_COLUMN SEED REPEATS > result.json

  CSV             the evaluation file Airlock ingested (same rows, same order)
  EXPORT_DIR      what appliance/examples/eval_export.rs wrote: model.json (weights, the
                  frozen feature set, classes) and scores.f32 (Airlock's probability of the
                  positive class for every row)
  SENSITIVE_JSON  the sensitive attributes, e.g. [["sex", []], ["age", [25, 60]]]
  SLICE_COLUMN    the column sliced by
  SEED, REPEATS   permutation importance's random_state and n_repeats

What is timed (time.perf_counter), apart from the interpreter and imports:

  read      pandas.read_csv of the CSV, and numpy.fromfile of Airlock's scores
  compute   for each sensitive attribute a MetricFrame (count, selection rate, true and
            false positive rates, accuracy, by group) and demographic_parity_difference,
            demographic_parity_ratio and equalized_odds_difference; a MetricFrame by the
            slice column of the metrics Airlock reports per slice (accuracy, precision,
            recall, F1, ROC AUC, average precision, log loss, Brier score, selection rate,
            count); and permutation_importance of a scikit-learn Pipeline (the feature set's
            transform as a FunctionTransformer, then a LogisticRegression holding Airlock's
            weights) on the feature set's columns, scoring "roc_auc", as Airlock's evaluate
            does (one column of the file is one feature: all its vector slots move together)

Untimed, before: the pipeline's own probabilities are compared with Airlock's scores (the
largest absolute difference and the number of decisions at 0.5 that differ are reported).
Decisions and slice metrics use Airlock's scores, so both sides judge the same predictions.

Prints one JSON object: versions, timings, the check, and every figure.
"""

import json
import platform
import sys
import time

T0 = time.perf_counter()
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
import fairlearn  # noqa: E402
from fairlearn.metrics import (  # noqa: E402
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.inspection import permutation_importance  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402

T_IMPORT = time.perf_counter() - T0


def feature_matrix(fs, df):
    """Airlock's transform (appliance/core/src/features.rs, FeatureSetDoc::transform) of the
    columns of `df`, for the transforms this benchmark's feature set uses: numeric with
    standardize (missing cells filled, an optional "was missing" slot), and one_hot (a sorted
    vocabulary and an out-of-vocabulary slot). Each value is computed in float64, then
    stored as float32, as Airlock does."""
    n = len(df)
    parts = []
    for f in fs["features"]:
        kind = f["transform"]
        if kind == "numeric":
            if f.get("denominator") or f.get("clip") or f.get("log1p"):
                raise SystemExit(f"feature {f['column']}: only plain numeric features are rebuilt here")
            x = df[f["column"]].to_numpy(dtype=np.float64)
            missing = np.isnan(x)
            x = np.where(missing, f["fill"], x)
            scale = f["scale"]
            if scale["kind"] == "standardize":
                x = (x - scale["mean"]) / scale["std"]
            elif scale["kind"] == "min_max":
                x = (x - scale["min"]) / (scale["max"] - scale["min"])
            parts.append(x.astype(np.float32)[:, None])
            if f.get("indicator"):
                parts.append(missing.astype(np.float32)[:, None])
        elif kind == "one_hot":
            vocab = f["vocabulary"]
            col = df[f["column"]]
            missing = col.isna().to_numpy()
            if f.get("fill") is not None:
                col = col.fillna(f["fill"])
            codes = pd.Categorical(col, categories=vocab).codes.astype(np.int64)
            codes[codes < 0] = len(vocab)
            block = np.zeros((n, len(vocab) + 1), dtype=np.float32)
            block[np.arange(n), codes] = 1.0
            parts.append(block)
            if f.get("indicator"):
                parts.append(missing.astype(np.float32)[:, None])
        else:
            raise SystemExit(f"transform {kind} is not rebuilt here")
    return np.hstack(parts)


def feature_columns(fs):
    cols = []
    for f in fs["features"]:
        if f["column"] not in cols:
            cols.append(f["column"])
    return cols


def band(values, cuts):
    """Airlock's group of a cell (appliance/core/src/slice.rs group_of): the raw value, or its
    band `<=a`, `a-b`, `>b` when cut points are given; a missing cell is `(missing)`."""
    if not cuts:
        return values.astype(object).where(values.notna(), "(missing)").astype(str)
    name = lambda c: f"{c:g}"  # noqa: E731  (Rust prints 25.0 as 25)
    x = values.to_numpy(dtype=np.float64)
    labels = np.empty(len(x), dtype=object)
    labels[:] = f">{name(cuts[-1])}"
    for i in range(len(cuts) - 1, -1, -1):
        lo = f"<={name(cuts[0])}" if i == 0 else f"{name(cuts[i - 1])}-{name(cuts[i])}"
        labels[x <= cuts[i]] = lo
    labels[np.isnan(x)] = "(missing)"
    return pd.Series(labels, index=values.index)


def to_plain(obj):
    """Pandas and numpy values as JSON values."""
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (np.floating, float)):
        return float(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    return obj


def main(argv):
    csv_path, export, sensitive_json, slice_col, seed, repeats = argv
    seed, repeats = int(seed), int(repeats)
    sensitive = json.loads(sensitive_json)
    with open(f"{export}/model.json") as f:
        model = json.load(f)
    fs = model["feature_set"]
    weights, bias = model["weights"]
    positive = fs["positive"]

    # ------------------------------------------------------------------ read (timed)
    t = time.perf_counter()
    df = pd.read_csv(csv_path)
    scores = np.fromfile(f"{export}/scores.f32", dtype="<f4")
    t_read = time.perf_counter() - t
    if len(scores) != len(df):
        raise SystemExit(f"{len(scores)} scores for {len(df)} rows")

    # ------------------------------------------------------------------ the model (untimed)
    columns = feature_columns(fs)
    X = df[columns]
    y = (df[fs["label"]] == positive).to_numpy().astype(np.int64)
    transform = FunctionTransformer(lambda d: feature_matrix(fs, d), validate=False)
    transform.fit(X)
    lr = LogisticRegression()
    lr.classes_ = np.array([0, 1])
    lr.coef_ = np.asarray(weights, dtype=np.float64).reshape(1, -1)
    lr.intercept_ = np.asarray(bias, dtype=np.float64).reshape(1)
    lr.n_features_in_ = lr.coef_.shape[1]
    pipe = Pipeline([("features", transform), ("model", lr)])
    own = pipe.predict_proba(X)[:, 1]
    max_abs_diff = float(np.max(np.abs(own - scores.astype(np.float64))))
    decisions_differ = int(np.sum((own >= 0.5) != (scores >= 0.5)))

    # ------------------------------------------------------------------ compute (timed)
    t_start = time.perf_counter()
    s64 = scores.astype(np.float64)
    y_pred = (scores >= 0.5).astype(np.int64)
    fairness = {}
    for attr, cuts in sensitive:
        groups = band(df[attr], cuts)
        mf = MetricFrame(
            metrics={
                "count": count,
                "selection_rate": selection_rate,
                "true_positive_rate": true_positive_rate,
                "false_positive_rate": false_positive_rate,
                "accuracy": accuracy_score,
            },
            y_true=y,
            y_pred=y_pred,
            sensitive_features=groups,
        )
        fairness[attr] = {
            "by_group": to_plain(mf.by_group.to_dict(orient="index")),
            "demographic_parity_difference": demographic_parity_difference(
                y, y_pred, sensitive_features=groups
            ),
            "demographic_parity_ratio": demographic_parity_ratio(
                y, y_pred, sensitive_features=groups
            ),
            "equalized_odds_difference": equalized_odds_difference(
                y, y_pred, sensitive_features=groups
            ),
        }
    t_fair = time.perf_counter()

    def at_half(fn, **kw):
        return lambda yt, s: fn(yt, s >= 0.5, **kw)

    slice_frame = MetricFrame(
        metrics={
            "count": count,
            "accuracy": at_half(accuracy_score),
            "precision": at_half(precision_score, zero_division=0),
            "recall": at_half(recall_score, zero_division=0),
            "f1": at_half(f1_score, zero_division=0),
            "roc_auc": roc_auc_score,
            "pr_auc": average_precision_score,
            "log_loss": lambda yt, s: log_loss(yt, s, labels=[0, 1]),
            "brier": brier_score_loss,
            "positive_rate": at_half(selection_rate),
        },
        y_true=y,
        y_pred=s64,
        sensitive_features=df[slice_col].astype(str),
    )
    slices = to_plain(slice_frame.by_group.to_dict(orient="index"))
    t_slices = time.perf_counter()

    imp = permutation_importance(
        pipe, X, y, scoring="roc_auc", n_repeats=repeats, random_state=seed
    )
    t_imp = time.perf_counter()
    importance = {
        c: {"mean": float(m), "std": float(s)}
        for c, m, s in zip(columns, imp.importances_mean, imp.importances_std)
    }

    print(
        json.dumps(
            {
                "rows": len(df),
                "python": platform.python_version(),
                "numpy": np.__version__,
                "pandas": pd.__version__,
                "sklearn": sklearn.__version__,
                "fairlearn": fairlearn.__version__,
                "import_s": T_IMPORT,
                "read_s": t_read,
                "fairness_s": t_fair - t_start,
                "slices_s": t_slices - t_fair,
                "importance_s": t_imp - t_slices,
                "compute_s": t_imp - t_start,
                "max_abs_diff": max_abs_diff,
                "decisions_differ": decisions_differ,
                "features": columns,
                "fairness": to_plain(fairness),
                "slices": slices,
                "importance": importance,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
