#!/usr/bin/env bash
# show --svg writes an SVG that an XML parser (xmllint) accepts, with one
# band per region, hole, overlap and device segment: the same bands, in the
# same order, as show --map draws in the terminal.
# Usage: svg.sh VMMAP_BINARY SOURCE_DIR
set -u
bin=$1 src=$2
cd "$src" || exit 1
command -v xmllint >/dev/null || { echo "xmllint is not installed (Debian: libxml2-utils)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

# kinds FILE: the band kinds of the text map, one letter per band, from
# its bar characters (# . ! = %), guest-physical then port I/O.
kinds() {
    "$bin" show --map "$1" | sed -n 's/^  [0-9a-f-]* *[~0-9.KMGTPE]* |\(.\).*/\1/p' | tr -d '\n'
}
# svg_kinds FILE: the same from the SVG's data-kind attributes.
svg_kinds() {
    grep -o 'data-kind="[0-9]"' "$1" | tr -dc '0-9' | tr '01234' '#.!=%'
}

for f in fixtures/qemu-q35-4g.json fixtures/overlap.json fixtures/pc-iobus.json \
         fixtures/edge-u64.json fixtures/captured/qemu-pc-256m-numa-2-memfd.json \
         fixtures/hostile-names.json; do
    out=$tmp/$(basename "$f" .json).svg
    if ! "$bin" show --svg "$out" "$f"; then bad "show --svg $f failed"; continue; fi
    if xmllint --noout "$out"; then ok; else bad "$out is not well-formed XML"; fi
    want=$(kinds "$f") got=$(svg_kinds "$out")
    if [[ -n $want && $got == "$want" ]]; then ok; else
        bad "$f: SVG bands '$got', text map bands '$want'"; fi
done

# q35: three regions and two holes (the VGA window and the PCI hole).
[[ $(kinds fixtures/qemu-q35-4g.json) == '#.#.#' ]] && ok || bad "q35 bands: $(kinds fixtures/qemu-q35-4g.json)"
# overlap.json: its overlaps are bands of their own.
[[ $(kinds fixtures/overlap.json) == *'!!'* ]] && ok || bad "overlap bands: $(kinds fixtures/overlap.json)"
# An SVG that cannot be written: one line, exit 2, nothing left behind.
"$bin" show --svg /nonexistent/dir/x.svg fixtures/qemu-q35-4g.json 2>"$tmp/err"
[[ $? -eq 2 && $(wc -l <"$tmp/err") -eq 1 ]] && ok || bad "unwritable --svg: $(cat "$tmp/err")"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
