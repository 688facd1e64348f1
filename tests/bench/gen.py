#!/usr/bin/env python3
"""Inputs for the end-to-end measurements in tests/bench/README.md.

  gen.py table N OUT [--changed]   N regions of 2 MiB - 4 KiB, 2 MiB apart
                                   (--changed: every 1000th region shrunk by
                                   a page, every 997th dropped: a diff input)
  gen.py queries N COUNT OUT       COUNT random "ADDR 0x40" lines over the
                                   N-region table's span (about 0.2% misses)

Deterministic (fixed seed), so two machines measure the same files.
"""
import random
import sys

STRIDE = 0x200000
SIZE = STRIDE - 0x1000


def table(n, out, changed):
    with open(out, "w") as f:
        f.write('{"vmmap": 1, "memory": {"regions": [')
        first = True
        for i in range(n):
            size = SIZE
            if changed and i % 997 == 996:
                continue
            if changed and i % 1000 == 999:
                size -= 0x1000
            f.write('%s{"guest_phys_addr": "0x%x", "memory_size": "0x%x", '
                    '"userspace_addr": "0x%x", "mmap_offset": "0x0"}'
                    % ("" if first else ", ", i * STRIDE, size,
                       0x7f0000000000 + i * STRIDE))
            first = False
        f.write(']}}\n')


def queries(n, count, out):
    rnd = random.Random(7)
    span = n * STRIDE
    with open(out, "w") as f:
        f.writelines("0x%x 0x40\n" % rnd.randrange(span - 0x40)
                     for _ in range(count))


def main():
    a = sys.argv[1:]
    if len(a) >= 3 and a[0] == "table":
        table(int(a[1], 0), a[2], "--changed" in a[3:])
    elif len(a) == 4 and a[0] == "queries":
        queries(int(a[1], 0), int(a[2], 0), a[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
