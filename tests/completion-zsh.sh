#!/usr/bin/env bash
# completions/_vmmap parses and loads as a zsh completion function.
# Usage: completion-zsh.sh SOURCE_DIR
set -u
cd "$1" || exit 1
command -v zsh >/dev/null || { echo "zsh is not installed"; exit 77; }
fail=0 pass=0
if zsh -n completions/_vmmap; then pass=$((pass + 1)); else
    echo "FAIL: _vmmap does not parse"; fail=$((fail + 1)); fi
out=$(zsh -f -c 'fpath=(completions $fpath); autoload -Uz compinit
    compinit -u -d "${TMPDIR:-/tmp}/vmmap-zcompdump.$$"
    autoload -Uz _vmmap && whence -w _vmmap && print -r -- ${_comps[vmmap]}' 2>&1)
if grep -q "_vmmap: function" <<< "$out" && grep -qx "_vmmap" <<< "$out"; then
    pass=$((pass + 1)); else
    echo "FAIL: _vmmap is not loaded and bound to vmmap: $out"; fail=$((fail + 1)); fi
rm -f "${TMPDIR:-/tmp}"/vmmap-zcompdump.*
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
