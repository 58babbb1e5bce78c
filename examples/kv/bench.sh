#!/usr/bin/env bash
# bench.sh: redis-benchmark against examples/kv and against redis-server,
# each server pinned to core 1 and the benchmark to core 0, rounds
# interleaved so that a busy spell of the machine hits both.
#
#   bash examples/kv/bench.sh            # 5 rounds, from the repository root
#   RUNS=3 LOOPS=2 bash examples/kv/bench.sh
#
# Needs redis-server and redis-benchmark (apt-get install redis-server
# redis-tools). Prints, per round and server, the requests per second of
# SET and GET and the server's CPU time per request (utime+stime from
# /proc over both tests, divided by their requests; 10 ms tick resolution).
set -euo pipefail
runs=${RUNS:-5}
loops=${LOOPS:-1}
n=${N:-200000}
kvport=${KV_PORT:-16380}
redisport=${REDIS_PORT:-16379}
bin=$(mktemp -d)/kv
go build -o "$bin" ./examples/kv

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

taskset -c 1 "$bin" -addr "127.0.0.1:$kvport" -loops "$loops" >/dev/null &
pids+=($!)
kvpid=$!
taskset -c 1 redis-server --port "$redisport" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
pids+=($!)
redispid=$!
for port in "$kvport" "$redisport"; do
	for _ in $(seq 100); do
		redis-cli -p "$port" ping >/dev/null 2>&1 && break
		sleep 0.1
	done
done

# Wait (up to 120 s) for a second in which the machine uses under 15% of a
# core, as bench/run.sh net does: other sessions may share it.
quiet() {
	local a b
	for _ in $(seq 120); do
		a=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
		sleep 1
		b=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
		if awk -v a="$a" -v b="$b" -v ncpu="$(nproc)" 'BEGIN { split(a, x, " "); split(b, y, " "); busy = y[1] - x[1]; all = busy + y[2] - x[2]; exit !(all > 0 && busy * 100 / all * ncpu < 15) }'; then
			return
		fi
	done
	echo "(machine still busy after 120 s)"
}

tck=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
one() { # name pid port
	local before after out set get
	before=$(cpu "$2")
	out=$(taskset -c 0 redis-benchmark -p "$3" -q -t set,get -P 16 -n "$n" 2>&1 | tr '\r' '\n' | grep 'requests per second')
	after=$(cpu "$2")
	set=$(awk '/^SET/ {print $2}' <<<"$out")
	get=$(awk '/^GET/ {print $2}' <<<"$out")
	awk -v name="$1" -v s="$set" -v g="$get" -v t=$((after - before)) -v tck="$tck" -v n="$n" \
		'BEGIN { printf "%-6s SET %10.0f/s  GET %10.0f/s  server %.2f us/request\n", name, s, g, t * 1e6 / tck / (2 * n) }'
}
echo "redis-benchmark -q -t set,get -P 16 -n $n; servers on core 1, benchmark on core 0; kv -loops $loops"
for r in $(seq "$runs"); do
	quiet
	echo "round $r"
	one kv "$kvpid" "$kvport"
	one redis "$redispid" "$redisport"
done
