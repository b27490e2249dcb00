#!/usr/bin/env python3
"""Run a command and report the peak memory of each of its processes.

Usage: proc_peak.py --out FILE.json [--interval-ms 5] -- CMD [ARG...]

GNU time gives one peak for a command, and for a command that starts a child
and waits for it that peak is the larger of the two (the kernel folds a
reaped child's peak into its parent's rusage). `airlock train` is such a
command: the parent reads and transforms the data, the sandboxed worker
trains. To see each, this runs CMD and, every --interval-ms, reads
/proc/PID/status of CMD and of every process below it (found through
/proc/PID/task/TID/children), keeping each one's VmHWM (the kernel's own
high-water mark of its resident set: it only grows, so a sample misses only
what a process reaches in its last interval before it exits).

Written to FILE.json:

  wall_s          wall seconds from start to exit (time.perf_counter)
  exit_code       CMD's exit status
  tree_maxrss_kib ru_maxrss from wait4 for CMD: the exact peak of the
                  largest single process of the tree (parent or a child)
  processes       one entry per process seen: pid, ppid, depth (0: CMD),
                  argv (the first 3 arguments), hwm_kib (largest VmHWM
                  seen), samples (how many times it was read); a process
                  whose argv changes (it called exec) starts a new entry,
                  so a child's figure is its own program's, not what it
                  shared with its parent before exec

CMD's stdout and stderr are passed through. The exit status is CMD's.
"""

import argparse
import json
import os
import subprocess
import sys
import time


def read_status(pid):
    """(VmHWM KiB, PPid) of a live process, or None once it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    hwm = ppid = None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
        elif line.startswith("PPid:"):
            ppid = int(line.split()[1])
    if hwm is None:  # a zombie has no memory left to report
        return None
    return hwm, ppid


def children(pid):
    """The pids whose parent is one of pid's threads."""
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                out.extend(int(p) for p in f.read().split())
        except OSError:
            pass
    return out


def argv_of(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            parts = f.read().split(b"\0")
    except OSError:
        return []
    return [p.decode(errors="replace") for p in parts if p][:3]


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--interval-ms", type=float, default=5.0)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("no command given")

    seen = {}  # pid -> entry
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    root = proc.pid
    interval = args.interval_ms / 1000.0
    status = rusage = None
    while True:
        # Walk the tree from the root: the root first, then each level.
        level, depth = [root], 0
        while level:
            nxt = []
            for pid in level:
                st = read_status(pid)
                if st is None:
                    continue
                hwm, ppid = st
                argv = argv_of(pid)
                e = seen.get(pid)
                if e is None or e["argv"] != argv:
                    # New, or it has called exec since the last sample: a child seen
                    # between fork and exec shares or copies its parent's memory and
                    # shows its parent's argv and high-water mark, which are not its own.
                    e = seen[pid] = {
                        "pid": pid,
                        "ppid": ppid,
                        "depth": depth,
                        "argv": argv,
                        "hwm_kib": 0,
                        "samples": 0,
                    }
                e["hwm_kib"] = max(e["hwm_kib"], hwm)
                e["samples"] += 1
                nxt.extend(children(pid))
            level, depth = nxt, depth + 1
        pid, status, rusage = os.wait4(root, os.WNOHANG)
        if pid == root:
            break
        time.sleep(interval)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    report = {
        "wall_s": wall,
        "exit_code": code,
        "tree_maxrss_kib": rusage.ru_maxrss,
        "interval_ms": args.interval_ms,
        "processes": sorted(seen.values(), key=lambda e: (e["depth"], e["pid"])),
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
