#!/usr/bin/env python3
"""PyTorch side of bench/runtime.sh: train and serve a small MLP on CPU.

Usage:
  runtime_torch.py --data FILE.csv [--hidden 64,64] [--batch-size 256]
                   [--epochs 3] [--lr 1e-3] [--weight-decay 0] [--threads 2]
                   [--seed 42] [--single-row 20000] [--infer-reps 20]

FILE.csv is what bench/runtime_data.py writes: a header, float features,
and a 0/1 `label` column last. Every row is a training row (no split).

What is measured, in this order (the same work the Airlock side does):

  train   nn.Sequential(Linear(F, h1), ReLU, ..., Linear(hk, 1)),
          BCEWithLogitsLoss, AdamW(lr, weight_decay), minibatches of
          --batch-size rows from a per-epoch torch.randperm; one warm-up
          epoch (not timed), then --epochs timed epochs. Timed: the shuffle,
          gathering each batch, forward, loss, backward and the optimizer
          step. train_rows_per_s = rows * epochs / seconds.
  batch   torch.inference_mode(): model + sigmoid over the whole matrix in
          chunks of 4096 rows into a preallocated output; one warm-up pass,
          then --infer-reps timed passes. batch_infer_rows_per_s =
          rows * reps / seconds.
  single  torch.inference_mode(): --single-row calls, each one (1, F) row
          (a view into the loaded matrix, cycling through it) through
          model + sigmoid + .item(), each timed with time.perf_counter_ns
          (after 1000 untimed calls); p50 and p99 in microseconds. The model
          only: no request parsing, no feature transforms.

final_train_loss is the row-weighted mean BCE over the minibatches of the
last timed epoch (as the optimizer saw them, before each step). Accuracy on
the training rows (threshold 0.5) is reported after training.

Prints one JSON object on stdout; progress goes to stderr.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn

INFER_CHUNK = 4096
SINGLE_WARMUP = 1000


def parse_args(argv):
    ap = argparse.ArgumentParser(description="PyTorch CPU MLP train/infer benchmark")
    ap.add_argument("--data", required=True)
    ap.add_argument("--hidden", default="64,64")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--single-row", type=int, default=20000)
    ap.add_argument("--infer-reps", type=int, default=20)
    args = ap.parse_args(argv)
    args.hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
    if not args.hidden or min(args.hidden) < 1:
        ap.error("--hidden must be a comma-separated list of positive widths")
    for name in ("batch_size", "epochs", "threads", "single_row", "infer_reps"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def log(msg):
    print(f"runtime_torch: {msg}", file=sys.stderr, flush=True)


def load(path):
    with open(path, encoding="ascii") as f:
        header = f.readline().strip().split(",")
    if header[-1] != "label":
        raise SystemExit(f"{path}: the last column must be `label`, got {header[-1]!r}")
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32, ndmin=2)
    x = torch.from_numpy(np.ascontiguousarray(data[:, :-1]))
    y = torch.from_numpy(np.ascontiguousarray(data[:, -1:]))
    return x, y


def build(features, hidden):
    layers = []
    width = features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def run_epoch(model, loss_fn, opt, x, y, batch_size):
    """One pass over a fresh permutation; the row-weighted mean loss."""
    rows = x.shape[0]
    perm = torch.randperm(rows)
    total = 0.0
    for start in range(0, rows, batch_size):
        idx = perm[start:start + batch_size]
        xb = x.index_select(0, idx)
        yb = y.index_select(0, idx)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        total += loss.item() * idx.shape[0]
    return total / rows


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)

    t0 = time.perf_counter()
    x, y = load(args.data)
    rows, features = x.shape
    log(f"loaded {rows} rows x {features} features in {time.perf_counter() - t0:.2f} s "
        f"(positive rate {y.mean().item():.3f})")

    model = build(features, args.hidden)
    loss_fn = nn.BCEWithLogitsLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)

    # ---- training
    model.train()
    epoch_losses = []
    t = time.perf_counter()
    epoch_losses.append(run_epoch(model, loss_fn, opt, x, y, args.batch_size))
    log(f"warm-up epoch: loss {epoch_losses[-1]:.4f} ({time.perf_counter() - t:.2f} s, not timed)")
    t = time.perf_counter()
    for e in range(args.epochs):
        te = time.perf_counter()
        epoch_losses.append(run_epoch(model, loss_fn, opt, x, y, args.batch_size))
        log(f"epoch {e + 1}/{args.epochs}: loss {epoch_losses[-1]:.4f} "
            f"({time.perf_counter() - te:.2f} s)")
    train_s = time.perf_counter() - t
    train_rows_per_s = rows * args.epochs / train_s

    # ---- batch inference
    model.eval()
    out = torch.empty(rows, 1)

    def infer_all():
        for start in range(0, rows, INFER_CHUNK):
            stop = min(start + INFER_CHUNK, rows)
            torch.sigmoid(model(x[start:stop]), out=out[start:stop])

    with torch.inference_mode():
        infer_all()  # warm-up
        t = time.perf_counter()
        for _ in range(args.infer_reps):
            infer_all()
        infer_s = time.perf_counter() - t
        accuracy = ((out > 0.5).to(torch.float32) == y).to(torch.float32).mean().item()
    batch_rows_per_s = rows * args.infer_reps / infer_s
    log(f"batch inference: {batch_rows_per_s:,.0f} rows/s; training accuracy {accuracy:.4f}")

    # ---- single-row inference
    lat = np.empty(args.single_row, dtype=np.int64)
    clock = time.perf_counter_ns
    with torch.inference_mode():
        for i in range(SINGLE_WARMUP):
            r = i % rows
            torch.sigmoid(model(x[r:r + 1])).item()
        for i in range(args.single_row):
            r = i % rows
            row = x[r:r + 1]
            t_ns = clock()
            torch.sigmoid(model(row)).item()
            lat[i] = clock() - t_ns
    p50_us = float(np.percentile(lat, 50)) / 1e3
    p99_us = float(np.percentile(lat, 99)) / 1e3
    log(f"single row: p50 {p50_us:.1f} us, p99 {p99_us:.1f} us over {args.single_row} calls")

    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "rows": rows,
        "features": features,
        "hidden": args.hidden,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "train_rows_per_s": train_rows_per_s,
        "final_train_loss": epoch_losses[-1],
        "batch_infer_rows_per_s": batch_rows_per_s,
        "single_row_p50_us": p50_us,
        "single_row_p99_us": p99_us,
        # Extras (not needed from the Airlock side):
        "train_accuracy": accuracy,
        "epoch_losses": epoch_losses,
        "train_seconds": train_s,
        "batch_infer_reps": args.infer_reps,
        "single_row_calls": args.single_row,
        "single_row_scope": "model + sigmoid + .item() on a (1, F) tensor view; no parsing, no feature transforms",
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", ""),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
