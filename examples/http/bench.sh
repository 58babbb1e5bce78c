#!/usr/bin/env bash
# wrk against this example's server and against net/http serving the same
# handler, each pinned to CPU 0 (wrk on CPU 1), rounds interleaved.
#   bash examples/http/bench.sh [rounds] [seconds] [connections] [path...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
rounds=${1:-3} secs=${2:-10} conns=${3:-100}
shift $(( $# < 3 ? $# : 3 )) || true
paths=("${@:-/hello}")
[ ${#paths[@]} -gt 0 ] || paths=(/hello)
bin=$(mktemp -d)/http
go build -o "$bin" .
port=18181
for path in "${paths[@]}"; do
	for r in $(seq "$rounds"); do
		for kind in tserver nethttp; do
			flag=""
			[ "$kind" = nethttp ] && flag=-nethttp
			taskset -c 0 "$bin" -addr 127.0.0.1:$port -dir . $flag >/dev/null &
			pid=$!
			for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/hello" && break; sleep 0.05; done
			rps=$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$port$path" | awk '/Requests\/sec/ {print $2}')
			echo "$path $kind round $r: $rps req/s"
			kill "$pid"; wait "$pid" 2>/dev/null || true
			port=$((port + 1))
		done
	done
done
