#!/usr/bin/env python3
"""Write a synthetic loan-default CSV for bench/evaluate.sh, or its behaviour cases.

Usage:
  gen_loans.py ROWS OUT.csv [--seed N]      the data (training and evaluation files
                                             come from the same distribution, with
                                             different seeds)
  gen_loans.py --cases DIR [--seed N]       100 behaviour cases: DIR/minimum.csv (40),
                                             DIR/invariance.jsonl (30),
                                             DIR/directional.jsonl (30)
  gen_loans.py --categories                 the category lists, as TOML lines

Columns (they match the contract bench/evaluate.sh writes; "missing" is an
empty cell):
  age            integer 18..90; a sensitive attribute, banded <=25, 25-60, >60
  sex            category female, male; a sensitive attribute
  income         float 0..400000 (log-normal), missing on about 3% of rows
  debt_ratio     float 0..5
  utilization    float 0..1
  tenure         integer 0..480 (months at the current address)
  accounts       integer 0..30
  late_payments  integer 0..12
  employment     category, 5 values
  housing        category, 4 values
  purpose        category, 6 values
  region         category, 10 values (r00..r09), unevenly sized: the slice column
  default        category no, yes: the label (about a quarter "yes")

The label is drawn from a logistic model of the columns (late payments,
utilization, debt, income, tenure, employment, region, and a little of sex and
age), so a model trained on the data has something to learn and its
decisions differ by group. The seed is fixed (default 1), so every run
benchmarks the same bytes.
"""

import json
import math
import os
import random
import sys

CATEGORIES = {
    "sex": ["female", "male"],
    "employment": ["retired", "salaried", "self_employed", "student", "unemployed"],
    "housing": ["mortgage", "own", "rent", "social"],
    "purpose": ["business", "car", "education", "home", "medical", "other"],
    "region": [f"r{i:02d}" for i in range(10)],
    "default": ["no", "yes"],
}

HEADER = (
    "age,sex,income,debt_ratio,utilization,tenure,accounts,late_payments,"
    "employment,housing,purpose,region,default\n"
)
BLOCK_ROWS = 20_000

# Region sizes: uneven, the smallest about 2% of rows.
REGION_WEIGHTS = [22, 16, 13, 11, 9, 8, 7, 6, 5, 3]
REGION_EFFECT = [0.0, 0.1, -0.1, 0.2, -0.2, 0.3, 0.0, -0.3, 0.4, 0.5]
EMPLOYMENT_WEIGHTS = [10, 60, 15, 5, 10]
EMPLOYMENT_EFFECT = {"retired": -0.2, "salaried": -0.3, "self_employed": 0.2,
                     "student": 0.3, "unemployed": 0.9}
HOUSING_WEIGHTS = [35, 25, 32, 8]
HOUSING_EFFECT = {"mortgage": -0.1, "own": -0.3, "rent": 0.2, "social": 0.4}
PURPOSE_WEIGHTS = [10, 25, 10, 25, 10, 20]
PURPOSE_EFFECT = {"business": 0.3, "car": 0.0, "education": 0.1, "home": -0.2,
                  "medical": 0.3, "other": 0.1}


def clamp(x, lo, hi):
    return lo if x < lo else hi if x > hi else x


def draw(rng):
    """One applicant: a dict of typed cells (income may be None), no label."""
    age = int(clamp(round(rng.gauss(42, 14)), 18, 90))
    sex = "male" if rng.random() < 0.52 else "female"
    employment = rng.choices(CATEGORIES["employment"], EMPLOYMENT_WEIGHTS)[0]
    if age < 24 and rng.random() < 0.5:
        employment = "student"
    if age > 66 and rng.random() < 0.7:
        employment = "retired"
    base = 10.6 + (0.25 if sex == "male" else 0.0) - (0.8 if employment == "unemployed" else 0.0)
    income = clamp(math.exp(rng.gauss(base, 0.55)), 0, 400_000)
    income = None if rng.random() < 0.03 else round(income, 2)
    return {
        "age": age,
        "sex": sex,
        "income": income,
        "debt_ratio": round(clamp(rng.lognormvariate(-1.0, 0.7), 0, 5), 4),
        "utilization": round(clamp(rng.betavariate(2, 4), 0, 1), 4),
        "tenure": int(clamp(rng.expovariate(1 / 60), 0, 480)),
        "accounts": int(clamp(rng.gauss(6, 3), 0, 30)),
        "late_payments": min(12, int(rng.expovariate(1 / 1.2))),
        "employment": employment,
        "housing": rng.choices(CATEGORIES["housing"], HOUSING_WEIGHTS)[0],
        "purpose": rng.choices(CATEGORIES["purpose"], PURPOSE_WEIGHTS)[0],
        "region": rng.choices(CATEGORIES["region"], REGION_WEIGHTS)[0],
    }


def logit(r):
    """The log-odds of default for applicant r."""
    income = r["income"] if r["income"] is not None else 40_000
    region = CATEGORIES["region"].index(r["region"])
    return (
        -1.55
        + 0.55 * r["late_payments"]
        + 2.2 * (r["utilization"] - 0.33)
        + 0.9 * (r["debt_ratio"] - 0.45)
        - 0.6 * (math.log(income + 1) - 10.7)
        - 0.004 * (r["tenure"] - 60)
        - 0.02 * (r["accounts"] - 6)
        + (0.35 if r["age"] <= 25 else 0.0)
        + (0.15 if r["sex"] == "male" else 0.0)
        + EMPLOYMENT_EFFECT[r["employment"]]
        + HOUSING_EFFECT[r["housing"]]
        + PURPOSE_EFFECT[r["purpose"]]
        + REGION_EFFECT[region]
    )


def label(rng, r):
    p = 1 / (1 + math.exp(-logit(r)))
    return "yes" if rng.random() < p else "no"


def cell(v):
    return "" if v is None else str(v)


COLUMNS = HEADER.strip().split(",")


def write_data(rows, path, seed):
    rng = random.Random(seed)
    with open(path, "w", newline="") as f:
        f.write(HEADER)
        done = 0
        while done < rows:
            n = min(BLOCK_ROWS, rows - done)
            lines = []
            for _ in range(n):
                r = draw(rng)
                r["default"] = label(rng, r)
                lines.append(",".join(cell(r[c]) for c in COLUMNS))
            f.write("\n".join(lines))
            f.write("\n")
            done += n


def request(r):
    """A case as `airlock predict` takes it: the columns, without the label."""
    return {c: r[c] for c in COLUMNS if c != "default" and r[c] is not None}


def write_cases(folder, seed):
    """100 cases: 40 minimum (20 clear defaults, 20 clear repayments, the expected
    class written as the placeholders YES and NO for bench/evaluate.sh to replace
    with the model's class names), 30 invariance (region), 30 directional
    (late_payments up by 2 must not lower the score)."""
    rng = random.Random(seed)
    os.makedirs(folder, exist_ok=True)
    minimum = []
    while len(minimum) < 40:
        r = draw(rng)
        if r["income"] is None:
            continue
        want_yes = len(minimum) < 20
        if want_yes:
            r.update(late_payments=rng.randint(7, 12), utilization=round(rng.uniform(0.85, 1), 4),
                     debt_ratio=round(rng.uniform(2.5, 4.5), 4), employment="unemployed")
        else:
            r.update(late_payments=0, utilization=round(rng.uniform(0, 0.1), 4),
                     debt_ratio=round(rng.uniform(0, 0.2), 4), employment="salaried",
                     income=round(rng.uniform(90_000, 200_000), 2), housing="own")
        minimum.append((r, "YES" if want_yes else "NO"))
    cols = [c for c in COLUMNS if c != "default"]
    with open(os.path.join(folder, "minimum.csv"), "w", newline="") as f:
        f.write(",".join(cols + ["expected"]) + "\n")
        for r, want in minimum:
            f.write(",".join([cell(r[c]) for c in cols] + [want]) + "\n")
    for name, count in (("invariance.jsonl", 30), ("directional.jsonl", 30)):
        with open(os.path.join(folder, name), "w") as f:
            for _ in range(count):
                r = draw(rng)
                if name == "directional.jsonl":
                    r["late_payments"] = min(r["late_payments"], 10)
                f.write(json.dumps(request(r)) + "\n")


def main(argv):
    seed = 1
    if "--seed" in argv:
        i = argv.index("--seed")
        seed = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    if argv == ["--categories"]:
        for name, values in CATEGORIES.items():
            print(f"{name} = {json.dumps(values)}")
        return 0
    if len(argv) == 2 and argv[0] == "--cases":
        write_cases(argv[1], seed)
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    rows = int(argv[0])
    if rows < 1:
        print("ROWS must be at least 1", file=sys.stderr)
        return 2
    write_data(rows, argv[1], seed)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
