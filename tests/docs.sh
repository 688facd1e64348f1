#!/usr/bin/env bash
# Documentation checks: every man page lints clean, and every command of the
# command table (as printed by vmmap --help) has its man page, is named in
# vmmap(1), the README, and all three completion files.
# Usage: docs.sh VMMAP_BINARY SOURCE_DIR
set -u
bin=$1 src=$2
cd "$src" || exit 1
fail=0 pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

for page in man/*.[15]; do
    if command -v mandoc >/dev/null; then
        out=$(mandoc -T lint -W warning "$page" 2>&1)
    else
        out=$(LC_ALL=C groff -man -ww -z "$page" 2>&1)
    fi
    [[ -z $out ]] && ok || bad "$page: $out"
done

cmds=$("$bin" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
[[ -n $cmds ]] && ok || bad "no commands in vmmap --help"
for c in $cmds; do
    [[ -f man/vmmap-$c.1 ]] && ok || bad "command $c has no man/vmmap-$c.1"
    grep -q "BR vmmap-$c (1)" man/vmmap.1 && ok || bad "vmmap(1) does not refer to vmmap-$c(1)"
    grep -q "vmmap $c\b\|vmmap -[a-z]* $c\b" README.md && ok || bad "README.md shows no use of $c"
    for f in completions/vmmap.bash completions/_vmmap completions/vmmap.fish; do
        grep -qw -- "$c" "$f" && ok || bad "$f does not offer $c"
    done
done
# The console examples in README.md: each "$ vmmap ..." line is run in the
# source directory and must print exactly the lines under it, up to the next
# prompt or the end of the block.  awk emits each command's output lines
# first, then "CMD<TAB>command".
want=$(mktemp)
n=0
while IFS= read -r rec; do
    if [[ $rec == CMD$'\t'* ]]; then
        cmdline=${rec#CMD$'\t'}
        got=$(eval "\"$bin\" ${cmdline#vmmap }" 2>&1)
        if [[ $got == "$(cat "$want")" ]]; then ok; else
            bad "README example '$cmdline' prints something else:"
            diff <(printf '%s\n' "$got") "$want" | head -20
        fi
        n=$((n + 1))
        : > "$want"
    else
        printf '%s\n' "${rec#OUT$'\t'}" >> "$want"
    fi
done < <(awk '
    /^```console$/ { inblock = 1; next }
    /^```$/ && inblock { if (cmd != "") print "CMD\t" cmd; cmd = ""; inblock = 0; next }
    inblock && /^\$ / { if (cmd != "") print "CMD\t" cmd; cmd = substr($0, 3); next }
    inblock { print "OUT\t" $0 }
' README.md)
rm -f "$want"
[[ $n -ge 5 ]] && ok || bad "found only $n README examples"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
