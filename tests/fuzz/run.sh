#!/usr/bin/env bash
# Runs vmmap's fuzz targets over their corpora.
#
#   run.sh replay BUILD SRC              every seed and regression once
#                                        (any build; what ctest runs)
#   run.sh fuzz BUILD SRC LIMIT [T...]   libFuzzer (a -DVMMAP_FUZZ=ON build),
#                                        LIMIT seconds per target, or -runs=N
#
# Targets: json num vu_decode vu_session shell vring import.  The seeds of target T are
# fixtures/fuzz/T plus, for json and shell, the fixtures themselves (read
# only: libFuzzer writes new inputs to a scratch copy, never into the tree).
# A crash leaves its input in $VMMAP_FUZZ_OUT (default ./fuzz-out) and makes
# the run fail; the input goes into fixtures/fuzz/T/ as a regression.
#
# VMMAP_FUZZ_JOBS=N runs N processes per target on one corpus (-runs=R is
# then split between them; a time limit applies to each).  With
# VMMAP_FUZZ_CORPUS=DIR the corpus of target T is DIR/T, kept for the next
# run (a long campaign can stop and go on); without it, a scratch directory
# removed at the end.
set -euo pipefail
mode=$1 build=$2 src=$3
shift 3

seeds() { # the corpus directories of a target
    local t=$1
    echo "$src/fixtures/fuzz/$t"
    case $t in
    json) echo "$src/fixtures" "$src/fixtures/invalid" "$src/fixtures/validate" \
               "$src/fixtures/diff" "$src/fixtures/captured" ;;
    shell) echo "$src/fixtures/shell" "$src/tests/cli/batch" ;;
    esac
}

all=(json num vu_decode vu_session shell vring import)
case $mode in
replay)
    for t in "${all[@]}"; do
        # shellcheck disable=SC2046
        if [[ $t == shell ]]; then
            "$build/fuzz_$t" $(seeds "$t") >/dev/null
        else
            "$build/fuzz_$t" $(seeds "$t")
        fi
    done
    ;;
fuzz)
    limit=$1
    shift
    targets=("$@")
    [[ ${#targets[@]} -gt 0 ]] || targets=("${all[@]}")
    if [[ $limit == -runs=* ]]; then stop=$limit; else stop=-max_total_time=$limit; fi
    out=${VMMAP_FUZZ_OUT:-fuzz-out}
    # A smaller quarantine, 2-frame malloc stacks, no garbage fill of new
    # blocks and no returning memory to the kernel: 1.3-1.6x the executions
    # a second of ASan's defaults (vu_session 1964 -> 2660/s, shell 1491 ->
    # 1861/s on a 2-vCPU EPYC), with the same checks.  A crash input
    # reproduces with full stacks under the default options.
    export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16:malloc_context_size=2:max_malloc_fill_size=0:allocator_release_to_os_interval_ms=-1}
    jobs=${VMMAP_FUZZ_JOBS:-1}
    [[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: VMMAP_FUZZ_JOBS must be a positive integer" >&2; exit 2; }
    if [[ $stop == -runs=* ]]; then
        total=${stop#-runs=}
        stop=-runs=$(( (total + jobs - 1) / jobs ))
    fi
    mkdir -p "$out"
    status=0
    for t in "${targets[@]}"; do
        if [[ -n ${VMMAP_FUZZ_CORPUS:-} ]]; then
            work=$VMMAP_FUZZ_CORPUS/$t
            mkdir -p "$work"
        else
            work=$(mktemp -d)
        fi
        extra=(-timeout=10 -rss_limit_mb=2048)
        case $t in
        # Scripts: short ones run 4x faster, and lines are independent.
        shell) extra+=(-max_len=512 -close_fd_mask=3) ;;
        # Streams: the real QEMU and DPDK sessions are 534 to 836 bytes, so
        # 2 KiB holds two of them and room to mutate; at 4 KiB every
        # execution replays twice the messages and loads back twice the
        # capture document, and the rate halves.
        vu_session) extra+=(-max_len=2048) ;;
        # One message: the longest payload with a meaning is SET_MEM_TABLE's,
        # 8 + 32 bytes a region, so 1 KiB holds 31 regions (8 are allowed);
        # a size above the 4096-byte maximum is in the header at any length.
        # At 4 KiB the rate fell from 4500 to 1700 a second.
        vu_decode) extra+=(-max_len=1024) ;;
        # The format's keys, tokens and pieces of a document: from an
        # empty corpus, 60 s reached 235 coverage points without them and
        # 477 with them.
        json) extra+=(-max_len=4096 -dict="$src/tests/fuzz/json.dict") ;;
        *) extra+=(-max_len=4096) ;;
        esac
        # Job 1 logs to T.log, job j > 1 to T.j.log.  New inputs go to
        # the first directory, $work; the seeds are only read.
        pids=()
        logs=()
        for ((j = 1; j <= jobs; j++)); do
            log=$out/$t.log
            ((j == 1)) || log=$out/$t.$j.log
            logs+=("$log")
            # shellcheck disable=SC2046
            "$build/fuzz_$t" "$stop" "${extra[@]}" -print_final_stats=1 \
                -artifact_prefix="$out/$t-" "$work" $(seeds "$t") >"$log" 2>&1 &
            pids+=($!)
        done
        for ((j = 0; j < jobs; j++)); do
            if ! wait "${pids[j]}"; then
                echo "fuzz_$t: FAILED (see ${logs[j]} and $out/$t-*)" >&2
                status=1
            fi
        done
        runs=$(awk '/stat::number_of_executed_units/ { n += $2; seen = 1 }
                    END { if (seen) print n }' "${logs[@]}")
        rss=$(awk '/stat::peak_rss_mb/ { if ($2 > r) r = $2 } END { print r }' "${logs[@]}")
        echo "fuzz_$t: ${runs:-?} executions in $jobs process(es), peak RSS ${rss:-?} MB," \
             "$(find "$work" -type f | wc -l) corpus files," \
             "$(ls "$out"/"$t"-* 2>/dev/null | wc -l) crashes"
        [[ -n ${VMMAP_FUZZ_CORPUS:-} ]] || rm -rf "$work"
    done
    exit $status
    ;;
*)
    echo "usage: run.sh replay|fuzz BUILD SRC [LIMIT [TARGET...]]" >&2
    exit 2
    ;;
esac
