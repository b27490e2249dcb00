#!/usr/bin/env python3
"""Write a seeded synthetic binary-classification CSV for bench/runtime.sh.

Usage: runtime_data.py --rows N --features F --seed S --out FILE.csv

Columns: x0,...,x{F-1},label. Every feature is standard normal, drawn as
float32 from numpy.random.default_rng(S). The label is

    1 if x @ w + 0.5 * sin(x0 * x1) + noise > 0 else 0

with w a fixed random direction from the same seed (unit length, so x @ w
is standard normal) and noise normal with standard deviation NOISE_SD. The
linear part is what a logistic regression gets; the sin(x0 * x1) term is an
interaction only a model with a hidden layer can pick up. With NOISE_SD =
0.35 the best possible accuracy is about 89%, and a small MLP gets close to
it in a few epochs, so the training loss has room to fall and a broken
trainer shows.

Draw order (fixed, so a seed always gives the same bytes): w (F values),
then the features (N x F, row by row), then the noise (N values). Features
are written with '%.9g', which round-trips a float32 exactly; labels as 0/1.
"""

import argparse
import sys

import numpy as np

NOISE_SD = 0.35
INTERACTION = 0.5
BLOCK_ROWS = 50_000


def generate(rows: int, features: int, seed: int):
    """The feature matrix (float32, rows x features) and labels (int8)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(features)
    w /= np.linalg.norm(w)
    x = rng.standard_normal((rows, features), dtype=np.float32)
    noise = rng.standard_normal(rows) * NOISE_SD
    x64 = x.astype(np.float64)
    score = x64 @ w + noise
    if features >= 2:
        score += INTERACTION * np.sin(x64[:, 0] * x64[:, 1])
    y = (score > 0).astype(np.int8)
    return x, y


def write_csv(path: str, x: np.ndarray, y: np.ndarray) -> None:
    rows, features = x.shape
    header = ",".join([f"x{j}" for j in range(features)] + ["label"])
    fmt = ",".join(["%.9g"] * features) + ",%d"
    with open(path, "w", encoding="ascii", newline="\n", buffering=8 << 20) as out:
        out.write(header + "\n")
        for start in range(0, rows, BLOCK_ROWS):
            xs = x[start:start + BLOCK_ROWS].astype(np.float64)
            ys = y[start:start + BLOCK_ROWS]
            block = np.column_stack([xs, ys])
            out.write("\n".join(fmt % tuple(r) for r in block))
            out.write("\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--features", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.rows < 1 or args.features < 1:
        print("runtime_data.py: --rows and --features must be at least 1", file=sys.stderr)
        return 2
    x, y = generate(args.rows, args.features, args.seed)
    write_csv(args.out, x, y)
    print(
        f"runtime_data.py: wrote {args.rows} rows x {args.features} features to {args.out} "
        f"(positive rate {y.mean():.3f})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
