#!/usr/bin/env bash
# No lost data: when an output file cannot be written, the previous one is
# left as it was, no temporary file is left behind, and vmmap exits 2 with
# the reason.  Two ways to make writing fail:
#   - a file size limit (ulimit -f, SIGXFSZ ignored): EFBIG, any user;
#   - a full tmpfs (as root, in a private mount namespace): ENOSPC.
# Files: capture -o, the shell's save.  (capture --record and the shell
# history are covered in test_hostile.c and test_shell.c.)  Also the modes
# of what is written: umask for a new file, the old mode for a replaced one.
#   nolost.sh VMMAP SRC
set -u
vmmap=$1 src=$2
rec=$src/fixtures/fuzz/vu_session/qemu-7.2-pc-add-mem-reg.bin
fixture=$src/fixtures/pc-iobus.json # saved, it is above 1 KiB
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/check.sh
. "$(dirname "$0")/check.sh"

# Runs a command that must fail to write DIR/FILE: status 2, the reason on
# stderr, the old content kept, nothing else left in DIR.
expect_kept() { # LABEL DIR FILE REASON CMD...
    local label=$1 dir=$2 file=$3 reason=$4
    shift 4
    echo "old content" >"$dir/$file"
    local before
    before=$(ls -A "$dir" | sort | tr '\n' ' ')
    "$@" >"$work/out" 2>"$work/err"
    local rc=$?
    ok "$label: exit status 2 (got $rc)" test $rc -eq 2
    ok "$label: says '$file: $reason'" grep -q "$file: $reason (the previous file is untouched)" "$work/err"
    ok "$label: the old $file is intact" test "$(cat "$dir/$file")" = "old content"
    ok "$label: no temporary file left" test "$(ls -A "$dir" | sort | tr '\n' ' ')" = "$before"
}

limited() { (trap '' XFSZ; ulimit -f 1; exec "$@"); } # 1 KiB

mkdir -p "$work/lim"
expect_kept "file size limit, capture -o" "$work/lim" cap.json "File too large" \
    limited "$vmmap" capture --replay "$rec" -o "$work/lim/cap.json"
expect_kept "file size limit, shell save" "$work/lim" saved.json "File too large" \
    limited "$vmmap" batch <(printf 'load %s\nsave --force %s\n' "$fixture" "$work/lim/saved.json")

# The same with room: the file is replaced whole.
"$vmmap" capture --replay "$rec" -o "$work/lim/cap.json" 2>/dev/null
ok "with room, capture -o writes the capture" grep -q '"end": "replay"' "$work/lim/cap.json"

# Modes: a new file gets 0666 less the umask; a replaced file keeps its
# own mode, so a file someone made private stays private.
mode() { stat -c %a "$1"; }
mkdir -p "$work/modes"
(umask 022; "$vmmap" batch <(printf 'load %s\nsave %s\n' "$fixture" "$work/modes/a.json"))
ok "new file under umask 022: 644 (got $(mode "$work/modes/a.json"))" test "$(mode "$work/modes/a.json")" = 644
(umask 077; "$vmmap" batch <(printf 'load %s\nsave %s\n' "$fixture" "$work/modes/b.json"))
ok "new file under umask 077: 600 (got $(mode "$work/modes/b.json"))" test "$(mode "$work/modes/b.json")" = 600
chmod 640 "$work/modes/a.json"
(umask 022; "$vmmap" batch <(printf 'load %s\nsave %s\n' "$src/fixtures/qemu-q35-4g.json" "$work/modes/a.json"))
ok "replaced file keeps 640 (got $(mode "$work/modes/a.json"))" test "$(mode "$work/modes/a.json")" = 640
ok "replaced file has the new content" grep -q ram-above-4g "$work/modes/a.json"
chmod 600 "$work/lim/cap.json"
(umask 022; "$vmmap" capture --replay "$rec" -o "$work/lim/cap.json" 2>/dev/null)
ok "capture -o over a 600 file keeps 600 (got $(mode "$work/lim/cap.json"))" test "$(mode "$work/lim/cap.json")" = 600

if [[ $(id -u) -eq 0 ]] && command -v unshare >/dev/null &&
   unshare -m true 2>/dev/null; then
    # A 64 KiB tmpfs, filled up, in a mount namespace of our own.
    export -f ok expect_kept
    export vmmap rec fixture work
    export full=$work/full
    mkdir -p "$full"
    unshare -m bash -c '
        set -u
        fails=0 checks=0
        mount -t tmpfs -o size=64k tmpfs "$full" || exit 3
        echo "old content" >"$full/cap.json"
        echo "old content" >"$full/saved.json"
        dd if=/dev/zero of="$full/filler" bs=4k 2>/dev/null
        expect_kept "full tmpfs, capture -o" "$full" cap.json "No space left on device" \
            "$vmmap" capture --replay "$rec" -o "$full/cap.json"
        expect_kept "full tmpfs, shell save" "$full" saved.json "No space left on device" \
            "$vmmap" batch <(printf "load %s\nsave --force %s\n" "$fixture" "$full/saved.json")
        # What -o could not take is saved in $TMPDIR, mode 0600, named on
        # the error line: a capture is never lost.
        mkdir -p "$work/rescue"
        TMPDIR=$work/rescue "$vmmap" capture --replay "$rec" -o "$full/cap.json" 2>"$work/err"
        saved=$(sed -n "s/.*the output was saved to \(.*\) instead$/\1/p" "$work/err")
        ok "full tmpfs, capture -o: the line names the rescue file" test -n "$saved"
        ok "full tmpfs, capture -o: the rescue file is in TMPDIR" test "${saved%/*}" = "$work/rescue"
        ok "full tmpfs, capture -o: the rescue file is 600" test "$(stat -c %a "$saved")" = 600
        ok "full tmpfs, capture -o: the rescue file is the capture" grep -q "\"end\": \"replay\"" "$saved"
        echo "$checks $fails" >"$work/ns-result"
    '
    read -r c f <"$work/ns-result" || { c=0; f=1; }
    checks=$((checks + c))
    fails=$((fails + f))
else
    echo "skip: full tmpfs checks need root and unshare -m (CI runs them)"
fi

echo "$((checks - fails)) passed, $fails failed"
[[ $fails -eq 0 ]]
