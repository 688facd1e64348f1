#!/bin/bash
# Input that is not what it seems: a table file that shrinks while vmmap
# maps it (SIGBUS), a FIFO with no writer, endless devices, a history file
# that is a device or a symlink, a byte-order mark.  Each gets one line
# and exit 2 (or is accepted), never a crash, a hang or unbounded memory.
vmmap=${1:?usage: input_edges.sh VMMAP SRCDIR}
src=${2:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=tests/check.sh
. "$(dirname "$0")/check.sh"

# A table of 400,000 regions (about 50 MB): vmmap takes some 100 ms to
# parse it, time enough to cut it under its feet.
python3 "$src/tests/bench/gen.py" table 400000 "$work/big.json"
cp "$work/big.json" "$work/big.orig"

# Runs "vmmap ARGS" (ARGS name $work/big.json), stops it once the file is
# mapped, truncates the file to 4 KiB and lets it go on.  The file is put
# back afterwards.
shrink_under() { # LABEL ARGS...
    local label=$1 pid rc i
    shift
    cp "$work/big.orig" "$work/big.json"
    "$vmmap" "$@" >"$work/out" 2>"$work/err" &
    pid=$!
    for ((i = 0; i < 20000; i++)); do
        grep -q "big.json" "/proc/$pid/maps" 2>/dev/null && break
    done
    kill -STOP "$pid" 2>/dev/null
    truncate -s 4096 "$work/big.json"
    kill -CONT "$pid" 2>/dev/null
    wait "$pid"
    rc=$?
    ok "$label: exit 2 (got $rc)" test "$rc" -eq 2
    ok "$label: says the file changed" \
        grep -q "big.json: changed while being read" "$work/err"
    ok "$label: one line on stderr" test "$(wc -l <"$work/err")" -eq 1
}
shrink_under "show of a shrinking table" show "$work/big.json"
shrink_under "validate of a shrinking table" validate "$work/big.json"
shrink_under "diff with a shrinking table" diff "$src/fixtures/qemu-q35-4g.json" "$work/big.json"
shrink_under "shell load of a shrinking table" batch <(printf 'load %s\n' "$work/big.json")

# A FIFO with no writer: not a hang in open().
mkfifo "$work/fifo"
timeout 5 "$vmmap" show "$work/fifo" >/dev/null 2>"$work/err"
rc=$?
ok "FIFO with no writer: no hang, exit 2 (got $rc)" test "$rc" -eq 2
ok "FIFO with no writer: one line" grep -q "fifo:1:1: empty input, expected a vmmap document" "$work/err"
# A pipe with a writer still works (process substitution).
ok "a table through a pipe loads" \
    "$vmmap" -q show <(cat "$src/fixtures/qemu-q35-4g.json")

# Endless input that is not a regular file stops at 1 GiB, with one line.
timeout 60 "$vmmap" show /dev/zero >/dev/null 2>"$work/err"
rc=$?
ok "show /dev/zero: exit 2 (got $rc)" test "$rc" -eq 2
ok "show /dev/zero: says the cap" \
    grep -q "/dev/zero: more than 1024 MiB from something that is not a regular file" "$work/err"
timeout 60 "$vmmap" capture --replay - </dev/zero >/dev/null 2>"$work/err"
rc=$?
ok "capture --replay of endless stdin: exit 2 (got $rc)" test "$rc" -eq 2
ok "capture --replay of endless stdin: says the cap" \
    grep -q "<stdin>: more than 1024 MiB" "$work/err"

# A byte-order mark is skipped, as jq and Python do.
printf '\xef\xbb\xbf' >"$work/bom.json"
cat "$src/fixtures/qemu-q35-4g.json" >>"$work/bom.json"
ok "a table with a UTF-8 byte-order mark loads" "$vmmap" -q show "$work/bom.json"

# Lines of translate --batch, batch and the shell are at most 64 KiB: a
# longer one is one invalid line, read past in constant memory; a NUL byte
# makes a line invalid (what followed it was ignored).
fixture=$src/fixtures/qemu-q35-4g.json
{ head -c 200000000 /dev/zero | tr '\0' 1; printf '\n0x1000\n'; } >"$work/long.txt"
"$vmmap" translate --batch "$work/long.txt" "$fixture" >"$work/out" 2>"$work/err"
rc=$?
ok "a 200 MB line in --batch: exit 1 (got $rc)" test "$rc" -eq 1
ok "a 200 MB line in --batch: one invalid line" \
    grep -q "long.txt:1: translate: line longer than 65536 bytes; skipped" "$work/err"
ok "a 200 MB line in --batch: the next line is answered" \
    grep -q "^0x1000 0x1 mapped" "$work/out"
# Peak RSS of the child, in KiB (it held the whole line before: 197 MB).
rss=$(python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' \
    "$vmmap" translate --batch "$work/long.txt" "$fixture")
ok "a 200 MB line in --batch: under 64 MB of memory (got $rss KiB)" test "$rss" -lt 65536
printf '0x1000\0 junk\n0x2000\n' | "$vmmap" translate --batch - "$fixture" >"$work/out" 2>"$work/err"
ok "a NUL byte in a --batch line: invalid" grep -q "<stdin>:1: translate: a NUL byte in the line" "$work/err"
ok "a NUL byte in a --batch line: the next is answered" grep -q "^0x2000 0x1 mapped" "$work/out"
{ head -c 70000 /dev/zero | tr '\0' '#'; printf '\nversion\n'; } | "$vmmap" batch --force - >"$work/out" 2>"$work/err"
rc=$?
ok "a 70 KB batch line: exit 2 (got $rc)" test "$rc" -eq 2
ok "a 70 KB batch line: one invalid line" grep -q "^vmmap: -:1: line longer than 65536 bytes; skipped" "$work/err"
ok "a 70 KB batch line: the next runs" grep -q "^vmmap 0" "$work/out"
printf 'version\0junk\nversion\n' | "$vmmap" batch --force - >/dev/null 2>"$work/err"
ok "a NUL byte in a batch line: invalid" grep -q "^vmmap: -:1: a NUL byte in the line" "$work/err"

# In the shell, whether an argument is a table file does not depend on the
# working directory: a file named 0x1000 there does not turn the address
# into a table (a file has a '/' or ends in .json).
mkdir -p "$work/cwd"
echo "not a table" >"$work/cwd/0x1000"
(cd "$work/cwd" && printf 'load %s\ntranslate 0x1000\n' "$fixture" |
    "$vmmap" batch - >"$work/out" 2>"$work/err")
rc=$?
ok "a file named like the address: translate answers (exit $rc)" test "$rc" -eq 0
ok "a file named like the address: the current table is used" \
    grep -q "gpa 0000000000001000-0000000000001000 (1): 1 piece" "$work/out"

# A descriptor is kept per region: the soft RLIMIT_NOFILE is raised to the
# hard one at start, and a --max-slots the hard limit cannot hold is
# refused at once.
(ulimit -Sn 512 && ulimit -Hn 512 && "$vmmap" capture --listen "$work/slots.sock" --max-slots 509 \
    >"$work/out" 2>"$work/err")
rc=$?
ok "--max-slots 509 under ulimit -Hn 512: refused (exit $rc)" test "$rc" -eq 2
ok "--max-slots refused: it says why" \
    grep -q "509 regions need 573 descriptors, and the limit is 512" "$work/err"
(ulimit -Sn 100 && exec "$vmmap" capture --listen "$work/slots.sock" --timeout 3 \
    >"$work/out" 2>"$work/err") &
pid=$!
for ((i = 0; i < 300; i++)); do
    [[ -S $work/slots.sock ]] && break
    sleep 0.01
done
read -r soft hard < <(awk '/^Max open files/ { print $4, $5 }' "/proc/$pid/limits")
ok "the soft descriptor limit is raised to the hard one ($soft of $hard)" \
    test "$soft" = "$hard"
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

echo "$((checks - fails)) passed, $fails failed"
[[ $fails -eq 0 ]]
