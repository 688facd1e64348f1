#!/usr/bin/env python3
"""QEMU start to table, direct and through `vmmap capture --forward`.

    fwd_qemu.py VMMAP [RUNS]

Each run starts a fresh qemu-storage-daemon (vhost-user-blk, a 64 MiB
disk), then QEMU 7.2 with vhost-user-blk-pci on its socket, directly or
through vmmap, and measures the time from QEMU's start until the daemon
has mapped the guest's memory (the memfd shows in its /proc/PID/maps):
the moment the backend has the table.  Direct and forwarded runs
alternate; the medians of RUNS each (default 7) and their ratio are
printed.  Nothing is asserted (the goal: forwarded within 1.1x of direct).
"""
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.0005)
    return False


def mapped(pid):
    try:
        with open(f"/proc/{pid}/maps") as f:
            return "memory-backend-memfd" in f.read()
    except OSError:
        return False


def one_run(vmmap, d, via):
    disk, qsd_sock, vm_sock = f"{d}/disk.img", f"{d}/qsd.sock", f"{d}/vm.sock"
    for p in (qsd_sock, vm_sock):
        if os.path.exists(p):
            os.unlink(p)
    with open(disk, "wb") as f:
        f.truncate(64 << 20)
    null = subprocess.DEVNULL
    qsd = subprocess.Popen(
        ["qemu-storage-daemon", "--blockdev",
         f"driver=file,node-name=file0,filename={disk}", "--blockdev",
         "driver=raw,node-name=disk0,file=file0", "--export",
         "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,"
         f"addr.path={qsd_sock},writable=on"], stdout=null, stderr=null)
    procs = [qsd]
    try:
        if not wait_for(lambda: os.path.exists(qsd_sock), 20):
            raise SystemExit("qemu-storage-daemon did not listen")
        sock = qsd_sock
        if via:
            procs.append(subprocess.Popen(
                [vmmap, "-q", "capture", "--listen", vm_sock, "--forward", qsd_sock,
                 "-o", f"{d}/capture.json", "--timeout", "60"], stdout=null,
                stderr=null))
            if not wait_for(lambda: os.path.exists(vm_sock), 10):
                raise SystemExit("vmmap did not listen")
            sock = vm_sock
        t0 = time.monotonic()
        qemu = subprocess.Popen(
            ["qemu-system-x86_64", "-M", "pc", "-m", "128M", "-display", "none",
             "-no-user-config", "-serial", "none", "-monitor", "none", "-object",
             "memory-backend-memfd,id=mem,size=128M,share=on", "-numa",
             "node,memdev=mem", "-chardev", f"socket,id=c0,path={sock}", "-device",
             "vhost-user-blk-pci,chardev=c0,bootindex=1"], stdout=null, stderr=null)
        procs.insert(0, qemu)
        if not wait_for(lambda: mapped(qsd.pid), 60):
            raise SystemExit("the daemon never mapped guest memory")
        return time.monotonic() - t0
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def main():
    vmmap = sys.argv[1] if len(sys.argv) > 1 else "build/vmmap"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    for prog in ("qemu-system-x86_64", "qemu-storage-daemon"):
        if not shutil.which(prog):
            raise SystemExit(f"{prog} is not installed")
    d = tempfile.mkdtemp(prefix="vmmap-fwd-qemu-")
    times = {False: [], True: []}
    try:
        for _ in range(runs):
            for via in (False, True):
                times[via].append(one_run(vmmap, d, via))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    direct, fwd = statistics.median(times[False]), statistics.median(times[True])
    print(f"QEMU start to table (vhost-user-blk, qemu-storage-daemon), median of {runs}:")
    print(f"  direct         {direct * 1e3:8.1f} ms  (runs: "
          + ", ".join(f"{t * 1e3:.0f}" for t in times[False]) + ")")
    print(f"  through vmmap  {fwd * 1e3:8.1f} ms  (runs: "
          + ", ".join(f"{t * 1e3:.0f}" for t in times[True]) + ")")
    print(f"  ratio          {fwd / direct:8.3f}x  (goal: at most 1.1x)")


if __name__ == "__main__":
    main()
