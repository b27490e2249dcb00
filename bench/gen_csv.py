#!/usr/bin/env python3
"""Write a synthetic CSV of about SIZE_MIB MiB for bench/bundle.sh.

Usage: gen_csv.py SIZE_MIB OUT.csv

Columns (they match the contract bundle.sh writes):
  id       integer, 1..rows, never missing
  reading  float in [-1000, 1000], empty (missing) on every 97th row
  zone     category, one of north|south|east|west|central
  note     string, 100 characters of base64 text

Why it is built this way: the benchmark needs a gigabyte in well under 30 s
from one core, so rows are formatted in blocks and written as large buffers.
The note column is a 100-byte window into a 1 MiB pool of random text,
shifted per row, so the file does not shrink to nothing under compression
and has no long repeats, yet no per-row random text is generated. The seed is
fixed so every run benchmarks the same bytes.
"""

import base64
import random
import sys

ZONES = ("north", "south", "east", "west", "central")
NOTE_LEN = 100
BLOCK_ROWS = 20_000


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    target = int(sys.argv[1]) << 20
    rng = random.Random(20240607)
    pool = base64.b64encode(rng.randbytes(3 << 18)).decode("ascii")  # 1 MiB of text
    span = len(pool) - NOTE_LEN
    written = 0
    row = 0
    with open(sys.argv[2], "w", encoding="ascii", newline="", buffering=8 << 20) as out:
        header = "id,reading,zone,note\n"
        out.write(header)
        written += len(header)
        while written < target:
            rnd = rng.random
            lines = []
            for i in range(row + 1, row + BLOCK_ROWS + 1):
                off = (i * 7919) % span
                reading = "" if i % 97 == 0 else f"{rnd() * 2000 - 1000:.3f}"
                lines.append(
                    f"{i},{reading},{ZONES[i % 5]},{pool[off:off + NOTE_LEN]}\n"
                )
            buf = "".join(lines)
            # Stop on the row that reaches the target size, not a block later.
            if written + len(buf) > target:
                cut = 0
                for line in lines:
                    cut += len(line)
                    if written + cut >= target:
                        break
                buf = buf[:cut]
            out.write(buf)
            written += len(buf)
            row += BLOCK_ROWS
    return 0


if __name__ == "__main__":
    sys.exit(main())
