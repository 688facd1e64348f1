#!/usr/bin/env python3
"""The reference for vmmap translate --batch: json.load and bisect.

Usage: python_bisect.py TABLE.json QUERIES   (one "ADDR [LEN]" per line)
Prints "ADDR LEN uaddr" for a query inside one region, "ADDR LEN unmapped"
otherwise: less than vmmap does (no multi-region walk), so the comparison
flatters Python.
"""
import bisect
import json
import sys


def num(v):
    return int(v, 16) if isinstance(v, str) else v


def main():
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    regions = sorted((num(r["guest_phys_addr"]), num(r["memory_size"]),
                      num(r["userspace_addr"])) for r in doc["memory"]["regions"])
    starts = [r[0] for r in regions]
    out = []
    with open(sys.argv[2]) as f:
        for line in f:
            words = line.split()
            if not words:
                continue
            addr = int(words[0], 0)
            length = int(words[1], 0) if len(words) > 1 else 1
            i = bisect.bisect_right(starts, addr) - 1
            if i >= 0 and addr + length <= regions[i][0] + regions[i][1]:
                out.append("%#x %#x %#x" % (addr, length, regions[i][2] + addr - regions[i][0]))
            else:
                out.append("%#x %#x unmapped" % (addr, length))
    sys.stdout.write("\n".join(out) + "\n")


main()
