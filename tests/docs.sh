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

# The command table in cli/commands.c is the source of truth: --help must list
# exactly its commands (rows with CLI_LINE), in its order; its shell verbs
# (CLI_SHELL alone) are each in vmmap-shell(1).
table_rows() { # the names of the rows whose text holds $1
    sed -n '/^static const struct vmmap_cmd commands\[\]/,/^};/p' cli/commands.c |
        awk -v want="$1" '/^	{ "/ { if (row ~ want) print name; row = ""
                                      name = $2; gsub(/[",]/, "", name) }
                         { row = row $0 } END { if (row ~ want) print name }'
}
cmds=$(table_rows CLI_LINE)
verbs=$(table_rows ',[[:space:]]*CLI_SHELL,')
[[ -n $verbs ]] && ok || bad "no shell verbs found in cli/commands.c"
for v in $verbs; do
    grep -Eq "^\.(B|BR|BI) \"?$v\b" man/vmmap-shell.1 && ok ||
        bad "shell verb $v is not in vmmap-shell(1)"
done
helped=$("$bin" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
[[ -n $cmds ]] && ok || bad "no commands found in cli/commands.c"
[[ "$cmds" == "$helped" ]] && ok ||
    bad "vmmap --help lists [$(echo $helped)], the command table has [$(echo $cmds)]"
for c in $cmds; do
    [[ -f man/vmmap-$c.1 ]] && ok || bad "command $c has no man/vmmap-$c.1"
    grep -q "BR vmmap-$c (1)" man/vmmap.1 && ok || bad "vmmap(1) does not refer to vmmap-$c(1)"
    grep -q "vmmap $c\b\|vmmap -[a-z]* $c\b" README.md && ok || bad "README.md shows no use of $c"
    for f in completions/vmmap.bash completions/_vmmap completions/vmmap.fish; do
        grep -qw -- "$c" "$f" && ok || bad "$f does not offer $c"
    done
    # Every option the command's --help lists is in its man page (roff
    # writes "--name" as "\-\-name"); global ones are in vmmap(1).
    for o in $("$bin" "$c" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
        case $o in --help|--usage|--version) continue ;; esac
        roff=${o//-/\\-}
        if grep -qF -- "$roff" "man/vmmap-$c.1" || grep -qF -- "$roff" man/vmmap.1; then
            ok
        else
            bad "vmmap $c --help has $o, man/vmmap-$c.1 does not"
        fi
    done
done

# The examples in the man pages: each "$ vmmap ..." line of an EXAMPLES
# section runs (in a scratch directory that sees the fixtures) and prints
# exactly the lines under it; one without output must not fail with
# status 2.  Backgrounded and interactive examples are left out.
scratch=$(mktemp -d)
ln -s "$(pwd)/fixtures" "$scratch/fixtures"
bindir=$(cd "$(dirname "$bin")" && pwd)
nex=0
for page in man/*.[15]; do
    awk '
        /^\.SH EXAMPLES/ { ex = 1; next }
        /^\.SH / { ex = 0 }
        ex && /^\.nf/ { nf = 1; next }
        ex && /^\.fi/ { if (cmd != "") print "CMD\t" cmd; cmd = ""; nf = 0; next }
        ex && nf && /^\$ / { if (cmd != "") print "CMD\t" cmd; cmd = substr($0, 3); next }
        ex && nf && cmd != "" { print "OUT\t" $0 }
    ' "$page" | sed -e 's/\\-/-/g' -e 's/\\e/\\/g' -e 's/\\(ti/~/g' > "$scratch/list"
    : > "$scratch/want"
    while IFS= read -r rec; do
        if [[ $rec != CMD$'\t'* ]]; then
            printf '%s\n' "${rec#OUT$'\t'}" >> "$scratch/want"
            continue
        fi
        cmdline=${rec#CMD$'\t'}
        case $cmdline in
            vmmap\ *) ;;
            *) : > "$scratch/want"; continue ;;
        esac
        if [[ $cmdline == *'&'* || $cmdline == *' shell '* || $cmdline == *' capture '* ]]; then
            : > "$scratch/want"
            continue
        fi
        got=$(cd "$scratch" && PATH=$bindir:$PATH eval "$cmdline" 2>/dev/null)
        status=$?
        if [[ -s $scratch/want ]]; then
            if [[ $got == "$(cat "$scratch/want")" ]]; then ok; else
                bad "$page example '$cmdline' prints something else:"
                diff <(printf '%s\n' "$got") "$scratch/want" | head -10
            fi
        elif [[ $status -le 1 ]]; then ok; else
            bad "$page example '$cmdline' fails with status $status"
        fi
        nex=$((nex + 1))
        : > "$scratch/want"
    done < "$scratch/list"
done
rm -rf "$scratch"
[[ $nex -ge 10 ]] && ok || bad "found only $nex man page examples"
# The console examples in README.md: each "$ vmmap ..." line is run in the
# source directory and must print exactly the lines under it, up to the next
# prompt or the end of the block.  awk emits each command's output lines
# first, then "CMD<TAB>command".
want=$(mktemp)
n=0
while IFS= read -r rec; do
    if [[ $rec == CMD$'\t'* ]]; then
        cmdline=${rec#CMD$'\t'}
        # vmmap's own lines run the binary under test; others (jq) as written.
        if [[ $cmdline == vmmap\ * ]]; then
            got=$(eval "\"$bin\" ${cmdline#vmmap }" 2>&1)
        else
            got=$(eval "$cmdline" 2>&1)
        fi
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

# capture --type: the device types of core/vu_device.c's table, each in
# all three completion files and in vmmap-capture(1).
types=$(sed -n '/vu_device_type_names\[VU_DEV_NTYPES + 1\] = {/,/};/p' core/vu_device.c |
        grep -o '"[a-z0-9]*"' | tr -d '"')
[[ -n $types ]] && ok || bad "no device types found in core/vu_device.c"
for t in $types; do
    grep -q "types='.*\b$t\b" completions/vmmap.bash && ok ||
        bad "completions/vmmap.bash does not offer --type $t"
    grep -q -- "--type=.*(.*\b$t\b.*)" completions/_vmmap && ok ||
        bad "completions/_vmmap does not offer --type $t"
    grep -q -- "-l type .*-a '.*\b$t\b" completions/vmmap.fish && ok ||
        bad "completions/vmmap.fish does not offer --type $t"
    grep -q "\\fB$t\\fR\|^\.BR.* $t\b\|\b$t\b" man/vmmap-capture.1 && ok ||
        bad "man/vmmap-capture.1 does not name --type $t"
done

# Every SYNOPSIS form runs.  Each page's SYNOPSIS as man renders it, one
# form per line; a form runs with its required words (placeholders made
# real: fixtures, a scratch file), then once more with each optional group;
# none may be a usage error (status 2).  A form that needs a peer on a
# socket (--listen, --connect, --forward) is not run.
scratch=$(mktemp -d)
forms=0
placeholder() { # $1 word, $2 the word before it
    case $1:$2 in
        FILE:--replay) echo fixtures/fuzz/vu_session/dpdk-22.11-testpmd-nohuge.bin ;;
        FILE:-o|FILE:--record) echo "$scratch/out.$RANDOM" ;;
        FILE:batch) echo fixtures/shell/hotplug.vmmap ;;
        FILE:*|FILE...:*|OLD:*|NEW:*) echo fixtures/qemu-pc-128m.json ;;
        CAPTURE:*) echo fixtures/captured/qemu-pc-256m-ipxe-snapshot.json ;;
        INDEX...:*|INDEX:*) echo 1 ;;
        BUS:*) echo mmio ;;
        ADDR:CAPTURE) echo 0xff6a03e ;;
        SPACE:*) echo gpa ;;
        ADDR:*|QUERY:*) echo 0x0 ;;
        LEN:*) echo 4 ;;
        SOURCE:*) echo tests/cli/batch/uaddr.txt ;;
        LOGFILE:*) echo fixtures/dpdk/testpmd-22.11-vhost-pc-256m.log ;;
        SVGFILE:*) echo "$scratch/x.svg" ;;
        NAME:*) echo vhost-user-slots ;;
        V:*|N:*) echo 1 ;;
        SECONDS:*) echo 1 ;;
        SIZE:*) echo 1M ;;
        TYPE:--device) echo blk ;;
        TYPE:*) echo net ;;
        COMMAND:*) echo version ;;
        ARG...:*) echo "" ;;
        *) echo "$1" ;;
    esac
}
# words GROUP: a group's words, the first of each a|b taken, placeholders
# made real.
words() {
    local prev="" w out=()
    for w in $1; do
        [[ $w == '...' || $w == '|' ]] && continue
        w=${w%%|*}
        out+=("$(placeholder "$w" "$prev")")
        prev=$w
    done
    echo "${out[*]}"
}
while IFS= read -r form; do
    [[ $form == *--listen* || $form == *--connect* || $form == *--forward* ||
       $form == *QMP_SOCKET* ]] && continue
    # Top-level alternatives ("--help | --usage | -V"): the first.
    form=${form%% | *}
    # Split into required words and optional groups (outermost [...]).
    req="" opts=()
    rest=${form#vmmap}
    while [[ -n ${rest// /} ]]; do
        rest=${rest#"${rest%%[![:space:]]*}"}
        if [[ $rest == \[* ]]; then
            depth=0 i=0
            for ((i = 0; i < ${#rest}; i++)); do
                c=${rest:i:1}
                [[ $c == '[' ]] && depth=$((depth + 1))
                [[ $c == ']' ]] && depth=$((depth - 1))
                ((depth == 0)) && break
            done
            g=${rest:1:i-1}
            rest=${rest:i+1}
            [[ $g == GLOBAL-OPTIONS || $g == OPTIONS ]] && continue
            opts+=("${g//[\[\]]/}")
        else
            w=${rest%%[[:space:]]*}
            rest=${rest#"$w"}
            w=${w#(}; w=${w%)}
            req+=" $w"
        fi
    done
    base=$(words "$req")
    for extra in "" "${opts[@]}"; do
        args=$(words "$extra")
        # An optional option goes after the command word, an optional
        # positional at the end.
        if [[ $args == -* ]]; then
            cmd=$(awk -v b="$base" -v a="$args" 'BEGIN {
                n = split(b, w, " "); printf "%s %s", w[1], a;
                for (i = 2; i <= n; i++) printf " %s", w[i] }')
        else
            cmd="$base${args:+ $args}"
        fi
        (cd "$src" && timeout 30 "$bin" $cmd </dev/null >/dev/null 2>"$scratch/err")
        st=$?
        if [[ $st -le 1 ]]; then ok; else
            bad "SYNOPSIS form '$form' as 'vmmap $cmd': status $st: $(head -1 "$scratch/err")"
        fi
        forms=$((forms + 1))
    done
done < <(for page in man/*.1; do
    MANWIDTH=1000 man -l "$page" 2>/dev/null | sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' |
        sed '1d;$d' | sed 's/^ *//; s/  */ /g' | grep -v '^$' |
        awk '/^vmmap/ { if (f != "") print f; f = $0; next } { f = f " " $0 } END { if (f != "") print f }'
done)
rm -rf "$scratch"
[[ $forms -ge 20 ]] && ok || bad "ran only $forms SYNOPSIS forms"

# Error codes: each one the sources emit is documented in vmmap-json(5),
# and each documented one is produced by a command that should produce it.
emitted=$(grep -oh 'cli_error([^,]*, "[a-z]*"\|emit_error([^,]*, "[a-z]*"' cli/*.c |
          grep -o '"[a-z]*"' | tr -d '"' | sort -u)
documented=$(MANWIDTH=1000 man -l man/vmmap-json.5 2>/dev/null | tr -s ' \n' ' ' |
             grep -o 'error\.code is .*A negative answer' | grep -o '[a-z]* (' | tr -d ' (' |
             sort -u)
[[ -n $documented ]] && ok || bad "no error codes found in vmmap-json(5)" 
for code in $emitted; do
    grep -qx "$code" <<< "$documented" && ok ||
        bad "error code '$code' is emitted but not documented in vmmap-json(5)"
done
code_of() { "$bin" -j "$@" 2>/dev/null | sed -n 's/.*"error":{"code":"\([a-z]*\)".*/\1/p'; }
for code in $documented; do
    case $code in
        usage) got=$(code_of show --by size fixtures/qemu-pc-128m.json) ;;
        input) got=$(code_of show fixtures/invalid/bad-hex.json) ;;
        io) got=$(code_of translate --batch /nonexistent/queries.txt fixtures/qemu-pc-128m.json) ;;
        nomem)
            if nm "$bin" 2>/dev/null | grep -q __asan_init; then
                ok; continue # a sanitizer build cannot run under a memory limit
            fi
            got=$(ulimit -v 30000; code_of translate --max-pieces 1048576 \
                  fixtures/qemu-pc-128m.json 0x0 0x1000) ;;
        *) got="(no command known for it)" ;;
    esac
    [[ $got == "$code" ]] && ok || bad "error code '$code': the command meant to produce it gave '$got'"
done

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
