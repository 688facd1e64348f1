#!/usr/bin/env python3
"""End-to-end measurements of the vmmap binary (tests/bench/README.md).

Usage: e2e.py VMMAP WORKDIR [REPEATS]

Generates its inputs in WORKDIR with gen.py (about 300 MB, kept for the
next run), then times each command from process start to exit, the median
of REPEATS runs (default 5), measures its peak RSS in one more run under
GNU time (Debian package "time"; "-" without it), and
checks that vmmap --batch and the Python reference give the same answers.
Prints a table and nothing else; asserts no timings.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


GNU_TIME = "/usr/bin/time"


def wall(argv):
    """Wall seconds of one run of argv, from spawn to reaped exit."""
    t0 = time.perf_counter()
    code = subprocess.call(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t = time.perf_counter() - t0
    if code not in (0, 1):
        sys.exit("%s: exit %d" % (" ".join(argv), code))
    return t


def peak_rss(argv):
    """Peak RSS in MiB of one run of argv, or None without GNU time.

    getrusage cannot be used from here: a child spawned by Python (vfork)
    inherits this process's high-water mark across exec."""
    if not os.access(GNU_TIME, os.X_OK):
        return None
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.call([GNU_TIME, "-f", "%M", "-o", out.name] + argv,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return int(out.read().split()[-1]) / 1024


def measure(argv, repeats):
    return statistics.median(wall(argv) for _ in range(repeats)), peak_rss(argv)


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    vmmap, work = os.path.abspath(sys.argv[1]), sys.argv[2]
    repeats = int(sys.argv[3]) if len(sys.argv) == 4 else 5
    os.makedirs(work, exist_ok=True)
    gen = [sys.executable, os.path.join(HERE, "gen.py")]
    f = lambda name: os.path.join(work, name)
    inputs = [
        ("big.json", ["table", "1048576"]),
        ("big-changed.json", ["table", "1048576", None, "--changed"]),
        ("t509.json", ["table", "509"]),
        ("q1m.txt", ["queries", "1048576", "1000000"]),
        ("q509.txt", ["queries", "509", "1000000"]),
    ]
    for name, args in inputs:
        if not os.path.exists(f(name)):
            args = list(args)
            if None in args:
                args[args.index(None)] = f(name)
            else:
                args.append(f(name))
            subprocess.run(gen + args, check=True)

    # Same answers: vmmap's "ADDR LEN mapped UADDR:LEN" is Python's
    # "ADDR LEN UADDR", "unmapped AT" is "unmapped".
    py = [sys.executable, os.path.join(HERE, "python_bisect.py")]
    for table, queries in (("big.json", "q1m.txt"), ("t509.json", "q509.txt")):
        a = subprocess.run([vmmap, "translate", "--batch", f(queries), f(table)],
                           capture_output=True, text=True).stdout.splitlines()
        b = subprocess.run(py + [f(table), f(queries)],
                           capture_output=True, text=True).stdout.splitlines()
        a = [" ".join(l.split()[:2] + [l.split()[3].split(":")[0]
                                       if l.split()[2] == "mapped" else "unmapped"])
             for l in a]
        if a != b:
            sys.exit("vmmap and python_bisect.py disagree on %s" % queries)

    q35 = os.path.join(ROOT, "fixtures", "qemu-q35-4g.json")
    rows = [
        ("one-shot: translate q35 0x1000", [vmmap, "translate", q35, "0x1000"], 21),
        ("load + index 1M regions (translate 1 query)",
         [vmmap, "translate", f("big.json"), "0x1000"], repeats),
        ("validate 1M regions", [vmmap, "validate", f("big.json")], repeats),
        ("diff 1M vs 1M (3,145 messages)",
         [vmmap, "diff", f("big.json"), f("big-changed.json")], repeats),
        ("batch 1M queries, 1M regions: vmmap",
         [vmmap, "translate", "--batch", f("q1m.txt"), f("big.json")], repeats),
        ("batch 1M queries, 1M regions: python",
         py + [f("big.json"), f("q1m.txt")], repeats),
        ("batch 1M queries, 509 regions: vmmap",
         [vmmap, "translate", "--batch", f("q509.txt"), f("t509.json")], repeats),
        ("batch 1M queries, 509 regions: python",
         py + [f("t509.json"), f("q509.txt")], repeats),
        ("batch -j 1M queries, 1M regions: vmmap",
         [vmmap, "-j", "translate", "--batch", f("q1m.txt"), f("big.json")], repeats),
        ("batch -j 1M queries, 509 regions: vmmap",
         [vmmap, "-j", "translate", "--batch", f("q509.txt"), f("t509.json")], repeats),
    ]
    res = {}
    print("%-46s %10s %10s" % ("", "wall ms", "peak MiB"))
    for label, argv, n in rows:
        t, rss = measure(argv, n)
        res[label] = t
        print("%-46s %10.1f %10s" % (label, t * 1e3, "%.1f" % rss if rss else "-"))
    for n in ("1M", "509"):
        base = "batch 1M queries, %s regions: " % n
        print("python/vmmap, %s-region table: %.2f" % (n, res[base + "python"] / res[base + "vmmap"]))


if __name__ == "__main__":
    main()
