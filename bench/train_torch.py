#!/usr/bin/env python3
"""PyTorch side of bench/train.sh: the whole script a data scientist would run.

Usage:
  train_torch.py --data FILE.csv --out WEIGHTS.pt [--hidden 64,64]
                 [--batch-size 256] [--epochs 3] [--lr 1e-3] [--threads 2]
                 [--seed 42] [--holdout 0.2] [--validation 0.1]

FILE.csv is what bench/runtime_data.py writes: a header, float features,
and a 0/1 `label` column last.

What it does, all of it inside the measured process (bench/train.sh times
the whole process, interpreter start and `import torch` included):

  read    pandas.read_csv(FILE, dtype=float32) (the C parser), then the
          feature matrix and the labels as float32 tensors
  split   a seeded permutation of the rows: the last ceil(holdout * n)
          held out, the ceil(validation * n) before them validate, the rest
          train (the same fractions as `airlock train`'s defaults, so both
          sides train on the same number of rows)
  train   nn.Sequential(Linear(F, h1), ReLU, ..., Linear(hk, 1)),
          BCEWithLogitsLoss, AdamW(lr, weight decay 0), --epochs epochs of
          minibatches of --batch-size training rows from a per-epoch
          torch.randperm; after each epoch the validation loss
  score   the held-out rows: loss and accuracy at 0.5
  save    torch.save(model.state_dict(), WEIGHTS.pt)

Airlock does more in its time: it parses the rows from an encrypted
snapshot, checks every value, recomputes every metric (ROC AUC and others,
on every split) in the parent, runs the training in a sandboxed worker, and
signs and records the model. Any bias favours PyTorch.

Prints one JSON object on stdout (phase timings from time.perf_counter);
progress goes to stderr.
"""

import argparse
import json
import math
import os
import sys
import time

T_START = time.perf_counter()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

T_IMPORTED = time.perf_counter()


def parse_args(argv):
    ap = argparse.ArgumentParser(description="PyTorch CPU MLP: read CSV, train, save")
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--hidden", default="64,64")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--validation", type=float, default=0.1)
    args = ap.parse_args(argv)
    args.hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
    if not args.hidden or min(args.hidden) < 1:
        ap.error("--hidden must be a comma-separated list of positive widths")
    for name in ("batch_size", "epochs", "threads"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def log(msg):
    print(f"train_torch: {msg}", file=sys.stderr, flush=True)


def build(features, hidden):
    layers = []
    width = features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    phases = {"import_s": T_IMPORTED - T_START}

    t = time.perf_counter()
    df = pd.read_csv(args.data, dtype=np.float32)
    if df.columns[-1] != "label":
        raise SystemExit(f"{args.data}: the last column must be `label`, got {df.columns[-1]!r}")
    x = torch.from_numpy(df.iloc[:, :-1].to_numpy(dtype=np.float32, copy=True))
    y = torch.from_numpy(df.iloc[:, -1:].to_numpy(dtype=np.float32, copy=True))
    del df
    rows, features = x.shape
    phases["read_s"] = time.perf_counter() - t
    log(f"read {rows} rows x {features} features in {phases['read_s']:.2f} s")

    t = time.perf_counter()
    perm = torch.randperm(rows)
    n_hold = min(max(math.ceil(args.holdout * rows), 1), rows - 2)
    n_val = min(max(math.ceil(args.validation * rows), 1), rows - n_hold - 1)
    train_idx = perm[: rows - n_hold - n_val]
    val_idx = perm[rows - n_hold - n_val : rows - n_hold]
    hold_idx = perm[rows - n_hold :]
    phases["split_s"] = time.perf_counter() - t

    model = build(features, args.hidden)
    loss_fn = nn.BCEWithLogitsLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    x_val, y_val = x.index_select(0, val_idx), y.index_select(0, val_idx)

    t = time.perf_counter()
    history = []
    n_train = train_idx.shape[0]
    for epoch in range(1, args.epochs + 1):
        te = time.perf_counter()
        model.train()
        order = train_idx[torch.randperm(n_train)]
        total = 0.0
        for start in range(0, n_train, args.batch_size):
            idx = order[start : start + args.batch_size]
            xb = x.index_select(0, idx)
            yb = y.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * idx.shape[0]
        model.eval()
        with torch.inference_mode():
            val_loss = loss_fn(model(x_val), y_val).item()
        history.append({"epoch": epoch, "train_loss": total / n_train, "validation_loss": val_loss,
                        "seconds": time.perf_counter() - te})
        log(f"epoch {epoch}/{args.epochs}: loss {total / n_train:.4f}, validation {val_loss:.4f} "
            f"({time.perf_counter() - te:.2f} s)")
    phases["train_s"] = time.perf_counter() - t

    t = time.perf_counter()
    with torch.inference_mode():
        logits = model(x.index_select(0, hold_idx))
        y_hold = y.index_select(0, hold_idx)
        holdout_loss = loss_fn(logits, y_hold).item()
        holdout_acc = ((logits > 0).to(torch.float32) == y_hold).to(torch.float32).mean().item()
    phases["score_s"] = time.perf_counter() - t

    t = time.perf_counter()
    torch.save(model.state_dict(), args.out)
    phases["save_s"] = time.perf_counter() - t
    phases["total_s"] = time.perf_counter() - T_START

    print(json.dumps({
        "rows": rows,
        "features": features,
        "split": {"train": int(n_train), "validation": int(val_idx.shape[0]),
                  "holdout": int(hold_idx.shape[0])},
        "history": history,
        "holdout_loss": holdout_loss,
        "holdout_accuracy": holdout_acc,
        "weights_bytes": os.path.getsize(args.out),
        **phases,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": sys.version.split()[0],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
