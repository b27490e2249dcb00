#!/usr/bin/env python3
"""Evidently's DataDriftPreset on the drift benchmark's files, for bench/drift.sh.

Usage: drift_evidently.py REFERENCE.csv CURRENT.csv COLUMNS.json

Times, inside the process with time.perf_counter: importing pandas and Evidently, reading
both CSV files with pandas, and the report (Report([DataDriftPreset()]).run with the column
types given, Evidently's defaults otherwise). Prints one JSON object: the timings, the
columns Evidently found drifted (a distance at or above its threshold, or a p-value below
it), every column's method, threshold and value, and the versions.
"""

import json
import sys
import time

t0 = time.perf_counter()
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy  # noqa: E402
import evidently  # noqa: E402
from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

t1 = time.perf_counter()
columns = json.load(open(sys.argv[3]))
reference = pd.read_csv(sys.argv[1])
current = pd.read_csv(sys.argv[2])
t2 = time.perf_counter()
definition = DataDefinition(
    numerical_columns=columns["numerical"], categorical_columns=columns["categorical"]
)
snapshot = Report([DataDriftPreset()]).run(
    current_data=Dataset.from_pandas(current, data_definition=definition),
    reference_data=Dataset.from_pandas(reference, data_definition=definition),
)
t3 = time.perf_counter()
result = snapshot.dict()
features = {}
for m in result["metrics"]:
    cfg = m.get("config", {})
    if cfg.get("type") != "evidently:metric_v2:ValueDrift":
        continue
    method, threshold, value = cfg["method"], cfg["threshold"], float(m["value"])
    is_test = "p_value" in method
    drifted = value < threshold if is_test else value >= threshold
    features[cfg["column"]] = {
        "method": method,
        "threshold": threshold,
        "value": value,
        "drifted": drifted,
    }
print(
    json.dumps(
        {
            "rows_reference": len(reference),
            "rows_current": len(current),
            "import_s": t1 - t0,
            "read_s": t2 - t1,
            "report_s": t3 - t2,
            "work_s": t3 - t1,
            "drifted": sorted(c for c, f in features.items() if f["drifted"]),
            "features": features,
            "python": sys.version.split()[0],
            "evidently": evidently.__version__,
            "pandas": pd.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        }
    )
)
