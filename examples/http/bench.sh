#!/usr/bin/env bash
# wrk against this example's server and against net/http serving the same
# handler, the server pinned to CPU 0 and wrk to CPU 1, rounds interleaved.
# Prints requests per second and, when perf is there, the server's CPU time
# per request (perf stat -e task-clock on the server process).
#   bash examples/http/bench.sh [rounds] [seconds] [connections] [path...]
# With BENCH_TLS=1 both servers serve HTTPS (a certificate made with
# crypto/tls/generate_cert.go; wrk resumes no sessions: the handshakes are
# the connections' first, the rest is the record layer).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
rounds=${1:-3} secs=${2:-10} conns=${3:-100}
shift $(($# < 3 ? $# : 3))
paths=("$@")
[ ${#paths[@]} -gt 0 ] || paths=(/hello)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/http" .
scheme=http tlsflags=()
if [ "${BENCH_TLS:-}" = 1 ]; then
	(cd "$tmp" && go run "$(go env GOROOT)/src/crypto/tls/generate_cert.go" --host 127.0.0.1 2>/dev/null)
	scheme=https tlsflags=(-tls-cert "$tmp/cert.pem" -tls-key "$tmp/key.pem")
fi
port=18181
for path in "${paths[@]}"; do
	for r in $(seq "$rounds"); do
		for kind in tserver nethttp; do
			flag=""
			[ "$kind" = nethttp ] && flag=-nethttp
			taskset -c 0 "$tmp/http" -addr 127.0.0.1:$port -dir . $flag "${tlsflags[@]}" >/dev/null &
			pid=$!
			for _ in $(seq 100); do curl -sk -o /dev/null "$scheme://127.0.0.1:$port/hello" && break; sleep 0.05; done
			perfpid=""
			if command -v perf >/dev/null; then
				perf stat -e task-clock -x, -p "$pid" -o "$tmp/perf" &
				perfpid=$!
			fi
			out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" "$scheme://127.0.0.1:$port$path")
			cpu=""
			if [ -n "$perfpid" ]; then
				kill -INT "$perfpid"
				wait "$perfpid" 2>/dev/null || true
				ms=$(awk -F, '/task-clock/ {print $1}' "$tmp/perf")
				reqs=$(echo "$out" | awk '/requests in/ {print $1}')
				cpu=$(awk -v ms="$ms" -v n="$reqs" 'BEGIN { if (n > 0) printf " server_us/req=%.1f", ms * 1000 / n }')
			fi
			rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
			echo "$path $kind round $r: req/s=$rps$cpu"
			kill "$pid"
			wait "$pid" 2>/dev/null || true
			port=$((port + 1))
		done
	done
done
