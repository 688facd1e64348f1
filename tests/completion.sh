#!/usr/bin/env bash
# Drives completions/vmmap.bash the way bash does on <TAB>: set COMP_WORDS and
# COMP_CWORD, call the completion function, and compare COMPREPLY.
# Usage: completion.sh VMMAP_BINARY SOURCE_DIR
set -u
bin=$1 src=$2
. /usr/share/bash-completion/bash_completion || { echo "no bash-completion"; exit 1; }
. "$src/completions/vmmap.bash"
PATH=$(dirname "$bin"):$PATH
cd "$src" || exit 1

fail=0 pass=0
check() { # expected words... -- command line words (last one is being completed)
    local want=() line=()
    while [[ $1 != -- ]]; do want+=("$1"); shift; done
    shift
    line=("$@")
    COMP_WORDS=("${line[@]}")
    COMP_CWORD=$((${#line[@]} - 1))
    COMP_LINE="${line[*]}"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _vmmap vmmap "${line[-1]}" "${line[-2]:-}"
    local got
    got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
    local exp
    exp=$(printf '%s\n' "${want[@]}" | sort | tr '\n' ' ')
    if [[ $got == "$exp" ]]; then
        pass=$((pass + 1))
    else
        echo "FAIL: '${line[*]}': got [$got] want [$exp]"
        fail=$((fail + 1))
    fi
}

check show translate lookup diff validate capture vring mem import shell batch help version -- vmmap ''
check translate -- vmmap tr
check show translate lookup diff validate capture vring mem import shell batch help version -- vmmap -j ''
check validate version vring -- vmmap help v
check --force -- vmmap batch --fo
check --interactive -- vmmap --inter
check --listen -- vmmap capture --li
check --no-backend-channel --no-mem-slots --no-packed -- vmmap capture --listen /tmp/s --no
check --no-backend-channel -- vmmap capture --listen /tmp/s --no-b
check vhost-kernel vhost-user vhost-user-slots kvm dpdk spdk -- vmmap validate --profile ''
check vhost-user vhost-user-slots -- vmmap validate -P vhost-u
check kvm -- vmmap validate --profile=k
check --strict -- vmmap validate --st
check fixtures -- vmmap diff fixtures/qemu-pc-128m.json fix
check --json -- vmmap --js
check --batch --from --help --json --max-pieces --pretty --quiet --usage -- vmmap translate fixtures/qemu-pc-128m.json --
check gpa uaddr -- vmmap translate --from ''
check uaddr -- vmmap translate --from u
check tests/cli/batch -- vmmap translate --batch tests/cli/bat
check fixtures -- vmmap show fix
check gpa uaddr -- vmmap show --by ''
check --by --help --json --map --pretty --quiet --svg --usage -- vmmap show --
check fixtures/pc-iobus.json -- vmmap lookup fixtures/pc-i
check mmio pio fast-mmio -- vmmap lookup fixtures/pc-iobus.json ''
check fast-mmio -- vmmap -j lookup fixtures/pc-iobus.json f
check mmio -- vmmap lookup fixtures/overlap.json ''
check -- vmmap lookup fixtures/pc-iobus.json mmio ''

# Every command of the binary's --help is offered.
for c in $("$bin" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }'); do
    check "$c" -- vmmap "$c"
done
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
