#!/usr/bin/env bash
# Benchmarks the gateway side by side with nginx and HAProxy and regenerates docs/benchmarks.md.
#
# Installs nginx, HAProxy and wrk from Debian when they are missing (needs root), builds the
# gateway and the harness (test/bench), and runs test/bench/cmd/benchrun, which starts the
# backends and the proxies on loopback addresses only (127.0.76.x, 127.0.77.x, 127.0.78.x,
# 127.0.79.x), measures every figure, and writes the report. When perf is installed and may
# trace system calls (root), the report counts the proxies' system calls per request. About
# 21 minutes on two cores, of which figure 4's step at 100,000 idle WebSockets (nine
# measurements of 30-50s, with four more backends on 127.0.77.11-14) takes about 5; results are
# only comparable when the machine is otherwise idle (the report records the load average).
#
# Environment:
#   QUICK=1   a three-minute run with short measurements, to validate the harness
#   REPS=N    repetitions of every measurement (default 3, quick 2)
#   KEEP=1    keep the work directory (rendered configurations, logs, raw results, profiles)
#   ONLY=idle measure figure 4 (idle WebSockets) alone, after the routing check, and write a
#             page of it alone (not for comparison: restore docs/benchmarks.md afterwards)
#   IDLE_CONNS=N,N      figure 4's connection counts (default 1000,10000,50000,100000)
#   IDLE_PROXIES=a,b    the proxies figure 4 measures (default nginx,haproxy,gateway)
#   e.g. ONLY=idle IDLE_CONNS=100000 IDLE_PROXIES=gateway REPS=1 hack/bench.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="${PATH}:/usr/sbin:/sbin"

quick=${QUICK:-0}
reps=${REPS:-0}
keep=${KEEP:-0}
only=${ONLY:-}
idle_conns=${IDLE_CONNS:-}
idle_proxies=${IDLE_PROXIES:-}

work=""
bench_pid=""
policy_rc=""

cleanup() {
  local status=$?
  if [ -n "${bench_pid}" ] && kill -0 "${bench_pid}" 2>/dev/null; then
    # benchrun leads its own process group: stop it and everything it started.
    kill -TERM -- "-${bench_pid}" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "${bench_pid}" 2>/dev/null || break; sleep 0.2; done
  fi
  if [ -n "${bench_pid}" ]; then
    kill -KILL -- "-${bench_pid}" 2>/dev/null || true # anything left behind
  fi
  if [ -n "${policy_rc}" ]; then
    rm -f "${policy_rc}"
  fi
  if [ -n "${work}" ]; then
    if [ "${keep}" = 1 ]; then
      echo "work directory kept: ${work}" >&2
    else
      rm -rf "${work}"
    fi
  fi
  exit "${status}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

missing=()
for tool in nginx haproxy wrk; do
  command -v "${tool}" >/dev/null || missing+=("${tool}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "hack/bench.sh: ${missing[*]} missing; install them (apt-get install nginx haproxy wrk) or run as root" >&2
    exit 1
  fi
  # Keep the packages' services from starting (they would listen on all addresses).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy_rc=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"${policy_rc}"
    chmod +x "${policy_rc}"
  fi
  echo "+ apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Idle-WebSocket figures need two descriptors per connection in the proxy.
ulimit -n "$(ulimit -Hn)"
read -r load1 _ </proc/loadavg
echo "load average ${load1} on $(nproc) CPUs; open files limit $(ulimit -n)" >&2
if awk -v l="${load1}" 'BEGIN { exit !(l > 1.5) }'; then
  echo "warning: the machine is busy (load ${load1}); the spreads will be wide" >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/stablering-bench.XXXXXX")
echo "+ go build -o ${work}/bin/ ./cmd/gateway ./test/bench/cmd/..." >&2
go build -o "${work}/bin/" ./cmd/gateway ./test/bench/cmd/...

args=(-bin "${work}/bin" -work "${work}" -report docs/benchmarks.md -command "make bench" -reps "${reps}")
if [ "${quick}" = 1 ]; then
  args+=(-quick)
fi
if [ -n "${only}" ]; then
  args+=(-only "${only}")
fi
if [ -n "${idle_conns}" ]; then
  args+=(-idle-conns "${idle_conns}")
fi
if [ -n "${idle_proxies}" ]; then
  args+=(-idle-proxies "${idle_proxies}")
fi
setsid "${work}/bin/benchrun" "${args[@]}" &
bench_pid=$!
wait "${bench_pid}"
