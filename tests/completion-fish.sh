#!/usr/bin/env bash
# Drives completions/vmmap.fish with fish's own `complete -C`.
# Usage: completion-fish.sh VMMAP_BINARY SOURCE_DIR
set -u
bin=$1 src=$2
cd "$src" || exit 1
command -v fish >/dev/null || { echo "fish is not installed"; exit 77; }
fail=0 pass=0
check() { # LINE WORD...: each WORD must be offered for LINE
    local line=$1 got
    shift
    got=$(PATH=$(dirname "$bin"):$PATH fish --no-config -c \
          "source completions/vmmap.fish; complete -C '$line'" 2>&1 | cut -f1)
    for w in "$@"; do
        if grep -qxF -- "$w" <<< "$got"; then pass=$((pass + 1)); else
            echo "FAIL: '$line' does not offer '$w'; offered: $(tr '\n' ' ' <<< "$got")"
            fail=$((fail + 1))
        fi
    done
}
check "vmmap tr" translate
check "vmmap " show translate lookup diff validate capture shell batch help version
check "vmmap translate --" --from --max-pieces --json
check "vmmap translate --from " gpa uaddr
check "vmmap show --by " gpa uaddr
check "vmmap validate --profile " vhost-kernel vhost-user vhost-user-slots kvm dpdk spdk
check "vmmap capture --" --listen --connect --no-mem-slots --follow
check "vmmap batch --" --force
check "vmmap help " show capture version
# Bus names come from the table file already on the line (vmmap -j show).
check "vmmap lookup fixtures/pc-iobus.json " mmio pio fast-mmio
check "vmmap lookup fixtures/overlap.json " mmio
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
