#!/usr/bin/env bash
# Runs a dpo-lab sweep as N shard processes at once on one or more hosts, then
# merges them:
#
#   experiments/cluster/shards.sh experiments/sweeps/beta.toml out/beta 8
#
# With GNU parallel installed the shards go through it, so its usual options
# spread them over hosts (`PARALLEL="--sshloginfile hosts"`, with the same paths
# on every host); without it they run as background jobs of this shell. The
# merged result is OUT/merged; it is byte-identical to the single-machine sweep
# (tests/cluster.rs). Rerunning the same command resumes every shard from its
# journal. DPO_LAB names the binary (default: dpo-lab on PATH).
set -euo pipefail

sweep=${1:?usage: shards.sh SWEEP.toml OUT N}
out=${2:?usage: shards.sh SWEEP.toml OUT N}
n=${3:?usage: shards.sh SWEEP.toml OUT N}
bin=${DPO_LAB:-dpo-lab}
# Split the cores among the concurrent shards on this host.
threads=$(( $(nproc) / n )); [ "$threads" -ge 1 ] || threads=1

if command -v parallel >/dev/null 2>&1; then
    RAYON_NUM_THREADS=$threads parallel --halt now,fail=1 --env RAYON_NUM_THREADS \
        "$bin" sweep "$sweep" --out "$out/shard-{}-of-$n" --shard "{}/$n" --quiet \
        ::: $(seq 1 "$n")
else
    pids=()
    for k in $(seq 1 "$n"); do
        RAYON_NUM_THREADS=$threads "$bin" sweep "$sweep" --out "$out/shard-$k-of-$n" \
            --shard "$k/$n" --quiet &
        pids+=("$!")
    done
    status=0
    for p in "${pids[@]}"; do wait "$p" || status=$?; done
    [ "$status" -eq 0 ] || { echo "shards.sh: a shard failed (exit $status); rerun to resume" >&2; exit "$status"; }
fi

shards=()
for k in $(seq 1 "$n"); do shards+=("$out/shard-$k-of-$n"); done
"$bin" merge --out "$out/merged" "${shards[@]}"
