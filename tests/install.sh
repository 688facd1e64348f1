#!/usr/bin/env bash
# cmake --install into a temporary prefix puts every file where the system
# looks, and man renders each page.
# Usage: install.sh BUILD_DIR SOURCE_DIR
set -u
build=$1 src=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
fail=0 pass=0
cmake --install "$build" --prefix "$prefix" >/dev/null || { echo "FAIL: install"; exit 1; }
want=(bin/vmmap
      share/bash-completion/completions/vmmap
      share/zsh/site-functions/_vmmap
      share/fish/vendor_completions.d/vmmap.fish
      share/man/man5/vmmap-json.5
      lib/jq/vmmap.jq)
for page in "$src"/man/*.1; do want+=("share/man/man1/$(basename "$page")"); done
for f in "${want[@]}"; do
    if [[ -e $prefix/$f ]]; then pass=$((pass + 1)); else
        echo "FAIL: $f is not installed"; fail=$((fail + 1)); fi
done
[[ -x $prefix/bin/vmmap ]] && "$prefix/bin/vmmap" --version >/dev/null && pass=$((pass + 1)) ||
    { echo "FAIL: the installed vmmap does not run"; fail=$((fail + 1)); }
if command -v man >/dev/null; then
    for page in "$prefix"/share/man/man*/*; do
        err=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
        out=$(MANWIDTH=80 man -l "$page" 2>/dev/null)
        if [[ -z $err ]] && grep -q "^NAME" <<< "$out"; then pass=$((pass + 1)); else
            echo "FAIL: man -l $(basename "$page"): ${err:-no NAME section}"; fail=$((fail + 1)); fi
    done
else
    echo "man is not installed: pages not rendered"
fi
# The jq module imports from the install prefix with the system's jq.
if command -v jq >/dev/null; then
    got=$(jq -L "$prefix/lib/jq" -nr 'import "vmmap" as v; "0xfeb00050" | v::hex2num | v::num2hex')
    [[ $got == 0xfeb00050 ]] && pass=$((pass + 1)) ||
        { echo "FAIL: jq -L $prefix/lib/jq: import \"vmmap\" gave '$got'"; fail=$((fail + 1)); }
else
    echo "FAIL: jq is not installed"; fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
