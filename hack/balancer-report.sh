#!/usr/bin/env bash
# Measures package balancer and regenerates docs/balancer.md: runs the balancer benchmarks, then
# hack/balancer-report, which computes the balance and movement figures and tabulates the
# benchmark results. Takes about a minute on two cores.
#
# Environment: BENCHTIME (default 200ms) and COUNT (default 3) tune the benchmark runs.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

benchtime=${BENCHTIME:-200ms}
count=${COUNT:-3}
bench_cmd="go test -run '^\$' -bench . -benchmem -benchtime ${benchtime} -count ${count} ./balancer/"

bench_out=$(mktemp)
trap 'rm -f "${bench_out}"' EXIT

echo "+ ${bench_cmd}" >&2
go test -run '^$' -bench . -benchmem -benchtime "${benchtime}" -count "${count}" ./balancer/ | tee "${bench_out}" >&2
go run ./hack/balancer-report -bench "${bench_out}" -bench-command "${bench_cmd}" -o docs/balancer.md
echo "wrote docs/balancer.md" >&2
