#!/usr/bin/env python3
"""Write a synthetic 20-column CSV of ROWS rows for bench/ingest.sh.

Usage: gen_wide.py ROWS OUT.csv

Columns (they match the contract bench/ingest.sh writes; "missing" is an
empty cell):
  id            string, "c" + 8 hex digits, unique per row (a bijective
                scramble of the row number, so keys arrive in random order)
  ts            timestamp, 2026-01-01T00:00:00Z + row * 29 s (+ 0..28 s)
  age           integer 18..90
  income        float 0..500000, missing on about 2% of rows
  balance       float -10000..100000, missing on about 1%
  score         integer 300..850
  tenure        integer 0..480 (months), missing on about 0.5%
  txn_count     integer 0..1000
  avg_txn       float 0..5000, missing on about 3%
  utilization   float 0..1
  temp_c        float -40..50, missing on about 5%
  defaults      integer 0..10
  segment       category, 3 values
  region        category, 5 values
  channel       category, 4 values
  product       category, 12 values
  state         category, 50 values
  device        category, 6 values
  plan          category, 8 values, missing on about 1%
  status        category, 3 values (active, dormant, churned): the label

The seed is fixed so every run benchmarks the same bytes. The categories
are exported (CATEGORIES) so the contract in ingest.sh can be checked
against them: `gen_wide.py --categories` prints them as TOML lines.
"""

import random
import sys

CATEGORIES = {
    "segment": ["retail", "business", "private"],
    "region": ["north", "south", "east", "west", "central"],
    "channel": ["web", "branch", "phone", "app"],
    "product": [
        "checking", "savings", "credit", "mortgage", "auto", "student",
        "personal", "business_loan", "cd", "ira", "brokerage", "heloc",
    ],
    "state": [
        "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA",
        "HI", "ID", "IL", "IN", "IA", "KS", "KY", "LA", "ME", "MD",
        "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ",
        "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC",
        "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
    ],
    "device": ["ios", "android", "windows", "macos", "linux", "other"],
    "plan": ["free", "basic", "plus", "pro", "team", "business", "enterprise", "legacy"],
    "status": ["active", "dormant", "churned"],
}

HEADER = (
    "id,ts,age,income,balance,score,tenure,txn_count,avg_txn,utilization,"
    "temp_c,defaults,segment,region,channel,product,state,device,plan,status\n"
)
BLOCK_ROWS = 20_000
SECONDS_PER_ROW = 29
DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def day_strings(days):
    """YYYY-MM-DD for `days` days from 2026-01-01 (no leap years before 2028)."""
    out = []
    year, month, day = 2026, 1, 1
    for _ in range(days):
        out.append(f"{year:04d}-{month:02d}-{day:02d}")
        day += 1
        dim = DAYS_IN_MONTH[month - 1] + (1 if month == 2 and year % 4 == 0 else 0)
        if day > dim:
            day, month = 1, month + 1
            if month > 12:
                month, year = 1, year + 1
    return out


def main() -> int:
    if len(sys.argv) == 2 and sys.argv[1] == "--categories":
        for name, cats in CATEGORIES.items():
            print(f"{name} = {cats!r}".replace("'", '"'))
        return 0
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    rows = int(sys.argv[1])
    if rows < 1 or rows >= 1 << 32:
        print("ROWS must be between 1 and 2^32 - 1", file=sys.stderr)
        return 2
    rng = random.Random(20261123)
    days = day_strings(rows * SECONDS_PER_ROW // 86_400 + 2)
    c = CATEGORIES
    segment, region, channel, product = c["segment"], c["region"], c["channel"], c["product"]
    state, device, plan, status = c["state"], c["device"], c["plan"], c["status"]
    with open(sys.argv[2], "w", encoding="ascii", newline="", buffering=8 << 20) as out:
        out.write(HEADER)
        for start in range(1, rows + 1, BLOCK_ROWS):
            rnd, rint, choice = rng.random, rng.randrange, rng.choice
            lines = []
            for i in range(start, min(start + BLOCK_ROWS, rows + 1)):
                # Multiplying by an odd constant mod 2^32 is a bijection.
                ident = f"c{(i * 2654435761) & 0xFFFFFFFF:08x}"
                secs = i * SECONDS_PER_ROW + rint(SECONDS_PER_ROW)
                d, s = divmod(secs, 86_400)
                h, s = divmod(s, 3600)
                m, s = divmod(s, 60)
                ts = f"{days[d]}T{h:02d}:{m:02d}:{s:02d}Z"
                income = "" if rnd() < 0.02 else f"{rnd() * 500000:.2f}"
                balance = "" if rnd() < 0.01 else f"{rnd() * 110000 - 10000:.2f}"
                tenure = "" if rnd() < 0.005 else str(rint(481))
                avg_txn = "" if rnd() < 0.03 else f"{rnd() * 5000:.2f}"
                temp_c = "" if rnd() < 0.05 else f"{rnd() * 90 - 40:.1f}"
                p = "" if rnd() < 0.01 else choice(plan)
                # About 15% churned: both label classes are present.
                st = status[2] if rnd() < 0.15 else choice(status[:2])
                lines.append(
                    f"{ident},{ts},{rint(18, 91)},{income},{balance},{rint(300, 851)},"
                    f"{tenure},{rint(1001)},{avg_txn},{rnd():.4f},{temp_c},{rint(11)},"
                    f"{choice(segment)},{choice(region)},{choice(channel)},"
                    f"{choice(product)},{choice(state)},{choice(device)},{p},{st}\n"
                )
            out.write("".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
