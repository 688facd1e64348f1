#!/usr/bin/env bash
# The jq module (completions/vmmap.jq) with the installed jq: "0x..."
# strings to numbers and back, and its regions against vmmap's own table.
# Usage: jq.sh VMMAP_BINARY SOURCE_DIR
set -u
bin=$1 src=$2
cd "$src" || exit 1
command -v jq >/dev/null || { echo "jq is not installed"; exit 1; }
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
vjq() { jq -L completions "$@"; }

# Every hex string of every fixture up to 2^53 survives a round trip.
for f in fixtures/*.json fixtures/captured/*.json; do
    got=$(vjq -r 'import "vmmap" as v;
        [.. | strings | select(test("^0x[0-9a-f]{1,13}$"))
         | select((v::hex2num | v::num2hex) != .)] | length' "$f")
    [[ $got == 0 ]] && ok || bad "$f: $got hex strings do not round trip"
done
# Known values, both ways.
[[ $(vjq -nr 'import "vmmap" as v; "0XfeB00050" | v::hex2num') == 4272947280 ]] && ok || bad "hex2num"
[[ $(vjq -nr 'import "vmmap" as v; 4272947280 | v::num2hex') == 0xfeb00050 ]] && ok || bad "num2hex"
[[ $(vjq -nr 'import "vmmap" as v; "pc.ram" | v::hex2num') == pc.ram ]] && ok || bad "a name passes"
vjq -nr 'import "vmmap" as v; -1 | v::num2hex' >/dev/null 2>&1 && bad "num2hex of -1" || ok
# regions: each region's numeric range is the one vmmap show prints,
# from a table, a capture and show's own JSON output.
for f in fixtures/qemu-q35-4g.json fixtures/captured/qemu-pc-256m-numa-2-memfd.json; do
    want=$("$bin" show "$f" | awk '$1 ~ /^[0-9a-f]+-[0-9a-f]+$/ && $3 != "(hole)" { print $1 }')
    got=$(vjq -r 'import "vmmap" as v;
        def hex16: v::num2hex | .[2:] | ("0000000000000000"[length:]) + .;
        [v::regions] | sort_by(.guest_phys_addr)[] | "\(.guest_phys_addr | hex16)-\(.last | hex16)"' "$f")
    [[ -n $want && $got == "$want" ]] && ok || bad "$f: regions '$got', show '$want'"
    got=$("$bin" -j show "$f" | vjq -c 'import "vmmap" as v; [v::regions | .memory_size] | add')
    want=$(vjq -c 'import "vmmap" as v; [v::regions | .memory_size] | add' "$f")
    [[ $got == "$want" && $got -gt 0 ]] && ok || bad "$f: show -j gives $got, the file $want"
done
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
