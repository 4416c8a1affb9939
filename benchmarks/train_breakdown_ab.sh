#!/usr/bin/env bash
# Before/after training cost breakdown on a shared machine (issue 6):
#
#   benchmarks/train_breakdown_ab.sh OLD_COMMIT [ROUNDS]
#
# Alternates one-repeat runs of benchmarks/train_breakdown.py on OLD_COMMIT's training code and on this
# tree's (order swapped every round, same seed per round), so a burst of load from other jobs hits both
# sides, then pools each side's runs: reports/train_breakdown_before.json and reports/train_breakdown.json
# (with the comparison), plus their .md/.png. Both sides run this tree's benchmark script, so only the
# measured code differs. Needs the .venv of `make test`. About 5 minutes at 5 rounds.
set -euo pipefail
old=${1:?usage: $0 OLD_COMMIT [ROUNDS]}
rounds=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
py=$root/.venv/bin/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$root" "$work/old"
git -C "$work/old" checkout -q "$old"
cp "$root/benchmarks/train_breakdown.py" "$work/old/benchmarks/"

side() {  # side NAME DIR SEED
    (cd "$2" && "$py" -m benchmarks.train_breakdown --repeats 1 --seed "$3" --out "$work/$1_$3.json" | grep '^repeat')
}
for ((i = 0; i < rounds; i++)); do
    if ((i % 2 == 0)); then side before "$work/old" "$i"; side after "$root" "$i"
    else side after "$root" "$i"; side before "$work/old" "$i"; fi
done
cd "$root"
note="benchmarks/train_breakdown_ab.sh $old $rounds"
"$py" -m benchmarks.train_breakdown --combine "$work"/before_*.json --note "$note (before: $old)" \
    --out reports/train_breakdown_before.json >/dev/null
"$py" -m benchmarks.train_breakdown --combine "$work"/after_*.json --note "$note (after)" \
    --before reports/train_breakdown_before.json --out reports/train_breakdown.json
