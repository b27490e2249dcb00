#!/usr/bin/env python3
"""Write the drift benchmark's data for bench/drift.sh.

Usage: gen_drift.py ROWS OUT_DIR

Writes, into OUT_DIR:
  reference.csv   ROWS rows, seed 20261203
  current.csv     ROWS rows, seed 20261204, drawn the same way except for two features:
                  num0 shifted by half its standard deviation (+5 on a standard
                  deviation of 10) and cat3 reweighted (0.4/0.3/0.2/0.1 becomes
                  0.1/0.2/0.3/0.4)
  contract.toml   the Airlock contract of both files (types, category lists)
  columns.json    the numeric and categorical column names, and the two that drift

Columns: 11 numeric (num0..num10: normal, lognormal, uniform, exponential, Poisson and
uniform integers, gamma, beta; every one with more than 5 distinct values, so both tools
measure it as a number) and 8 categorical (cat0..cat7, 2 to 50 values). Floats are
rounded to 4 decimals. Needs NumPy and pandas (the Evidently venv has both).
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

CATS = {  # name: (number of values, reference weights or None for a fixed skew)
    "cat0": 3,
    "cat1": 5,
    "cat2": 10,
    "cat3": 4,
    "cat4": 20,
    "cat5": 50,
    "cat6": 2,
    "cat7": 8,
}
SHIFTED = ["num0", "cat3"]


def weights(k: int) -> np.ndarray:
    w = 1.0 / np.arange(1, k + 1) ** 0.7  # a mild Zipf skew
    return w / w.sum()


def values(name: str, k: int) -> list:
    return [f"{name}_v{i}" for i in range(k)]


def frame(rows: int, seed: int, drift: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    r4 = lambda x: np.round(x, 4)
    d = {
        "num0": r4(rng.normal(50.0 + (5.0 if drift else 0.0), 10.0, rows)),
        "num1": r4(rng.normal(0.0, 1.0, rows)),
        "num2": r4(rng.lognormal(3.0, 0.8, rows)),
        "num3": r4(rng.uniform(0.0, 100.0, rows)),
        "num4": r4(rng.exponential(2.0, rows)),
        "num5": rng.poisson(30, rows),
        "num6": rng.integers(18, 91, rows),
        "num7": np.round(rng.normal(1000.0, 250.0, rows), 2),
        "num8": r4(rng.gamma(2.0, 3.0, rows)),
        "num9": r4(rng.beta(2.0, 5.0, rows)),
        "num10": r4(rng.normal(-5.0, 0.1, rows)),
    }
    for name, k in CATS.items():
        p = weights(k)
        if name == "cat3":
            p = np.array([0.1, 0.2, 0.3, 0.4] if drift else [0.4, 0.3, 0.2, 0.1])
        d[name] = np.array(values(name, k), dtype=object)[rng.choice(k, size=rows, p=p)]
    return pd.DataFrame(d)


def contract() -> str:
    lines = ['name = "drift"', "version = 1", ""]
    for name in [f"num{i}" for i in range(11)]:
        ty = "integer" if name in ("num5", "num6") else "float"
        lines += ["[[columns]]", f'name = "{name}"', f'type = "{ty}"', ""]
    for name, k in CATS.items():
        cats = ", ".join(f'"{v}"' for v in values(name, k))
        lines += ["[[columns]]", f'name = "{name}"', 'type = "category"', f"categories = [{cats}]", ""]
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    rows, out = int(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    frame(rows, 20261203, False).to_csv(out / "reference.csv", index=False)
    frame(rows, 20261204, True).to_csv(out / "current.csv", index=False)
    (out / "contract.toml").write_text(contract())
    (out / "columns.json").write_text(
        json.dumps(
            {
                "numerical": [f"num{i}" for i in range(11)],
                "categorical": list(CATS),
                "drifted": SHIFTED,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
