#!/bin/bash
# translate --batch on a pipe answers each query before it reads the next:
# a program that writes one line and waits for its answer must get it.
bin=${1:?usage: batch_stream.sh VMMAP SRCDIR}
cd "${2:?}" || exit 1
fail=0
coproc V { exec "$bin" translate --batch - fixtures/qemu-q35-4g.json; }
# bash unsets V_PID once the coprocess has exited; keep it for wait, which
# still knows the status of a child it has reaped.
pid=$V_PID
ask() {
    local ans
    printf '%s\n' "$1" >&"${V[1]}"
    if ! read -r -t 10 ans <&"${V[0]}"; then
        echo "FAIL: no answer to '$1' within 10 s"; fail=1; return
    fi
    [[ $ans == "$2" ]] && echo "ok: $1" || { echo "FAIL: '$1' gave '$ans', want '$2'"; fail=1; }
}
ask "0x1000 0x10" "0x1000 0x10 mapped 0x7f0e40001000:0x10"
ask "0xa0000" "0xa0000 0x1 unmapped 0xa0000"
ask "0x9fff0 0x30000" "0x9fff0 0x30000 unmapped 0xa0000 0x7f0e4009fff0:0x10"
exec {V[1]}>&-
wait "$pid"; rc=$?
[[ $rc -eq 1 ]] && echo "ok: exit 1" || { echo "FAIL: exit $rc, want 1"; fail=1; }
exit $fail
