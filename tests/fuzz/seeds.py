#!/usr/bin/env python3
"""Writes the generated part of the fuzz seed corpora in fixtures/fuzz/.

  seeds.py SRC

vu_decode/: every distinct message of the real QEMU and DPDK recordings in
vu_session/ (made with `vmmap capture --record` against qemu-system-x86
7.2 and dpdk-testpmd 22.11), one record per file.  json/: a table in the
big-table generator's form (tests/bench/gen.py), small enough for
-max_len.  num/ and shell/ are written by hand.  Deterministic: rerunning
changes nothing unless the recordings change.
"""
import hashlib
import os
import struct
import subprocess
import sys

src = sys.argv[1]
fz = os.path.join(src, "fixtures", "fuzz")

names = {1: "GET_FEATURES", 2: "SET_FEATURES", 3: "SET_OWNER", 5: "SET_MEM_TABLE",
         8: "SET_VRING_NUM", 9: "SET_VRING_ADDR", 10: "SET_VRING_BASE",
         11: "GET_VRING_BASE", 12: "SET_VRING_KICK", 13: "SET_VRING_CALL",
         15: "GET_PROTOCOL_FEATURES", 16: "SET_PROTOCOL_FEATURES",
         17: "GET_QUEUE_NUM", 18: "SET_VRING_ENABLE", 36: "GET_MAX_MEM_SLOTS",
         37: "ADD_MEM_REG", 38: "REM_MEM_REG", 39: "SET_STATUS", 40: "GET_STATUS"}
out = os.path.join(fz, "vu_decode")
seen = set()
for rec in sorted(os.listdir(os.path.join(fz, "vu_session"))):
    data = open(os.path.join(fz, "vu_session", rec), "rb").read()
    off = 0
    while off + 13 <= len(data):
        req, flags, size = struct.unpack_from("<III", data, off + 1)
        one = data[off:off + 13 + size]
        off += 13 + size
        digest = hashlib.sha1(one).hexdigest()[:8]
        if one in seen:
            continue
        seen.add(one)
        name = "%s-%s.bin" % (names.get(req, "req%d" % req), digest)
        with open(os.path.join(out, name), "wb") as f:
            f.write(one)

gen = os.path.join(src, "tests", "bench", "gen.py")
subprocess.run([sys.executable, gen, "table", "40", os.path.join(fz, "json", "gen-40.json")],
               check=True)
