# Sourced by the shell tests: ok DESC CMD... runs CMD and counts a check,
# "ok: DESC" or "FAIL: DESC"; $checks and $fails hold the counts.
fails=0 checks=0

ok() { # DESC CMD...
    local desc=$1
    shift
    checks=$((checks + 1))
    if "$@"; then
        echo "ok: $desc"
    else
        echo "FAIL: $desc" >&2
        fails=$((fails + 1))
    fi
}
