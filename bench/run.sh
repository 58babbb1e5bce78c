#!/usr/bin/env bash
# bench/run.sh - build and run this repository's benchmarks and print the
# tables of the README's Performance section. Run it from anywhere in a
# checkout; it needs Linux, Go, a C compiler and (for the C programs)
# Debian's -dev packages, which it apt-installs when they are missing.
#
# usage: bench/run.sh [MODE] [-quick] [-runs N] [-w WORKLOAD]... [-tls]
#                     [-conns LIST] [-sizes LIST] [IMPL...]
#
# MODE (default all):
#   loop  the event loop's rows (bench/SPEC.md): ./cmd/tevent-bench as
#         go-tevent against c-tevent (Samba's C tevent), c-libevent,
#         c-libev, c-epoll (bare epoll, the floor) and go-native (plain Go);
#         one table per workload and param, median ns_per_op and the ratio
#         to go-tevent (c-tevent where go-tevent has no number).
#         IMPLs: any of go-tevent c-tevent c-libevent c-libev c-epoll
#         go-native (default all); -w WORKLOAD (repeatable, default all).
#   net   the echo servers: ./cmd/tevent-echo as go-tevent against Go net,
#         gnet, nbio, libevent, C tevent and the bare C floors epoll and
#         uring (io_uring), driven by echo-load, idle memory by idle-conns.
#         IMPLs: go-tevent net gnet nbio libevent tevent epoll uring
#         (default all), and, only when named: uring-coop uring-none
#         (echo-uring -mode X), go-tevent-uring (tevent-echo -backend
#         io_uring).
#   tls   net with -tls: TLS 1.3 echo plus a handshake case. IMPLs:
#         go-tevent-tls (or go-tevent) net-tls nbio-tls libevent-tls
#         (default all), and, only when named: nbio-tls-ext.
#   all   loop, then net, then tls, each with its default IMPLs (-w goes
#         to loop, -conns and -sizes to net and tls).
#
#   -quick       loop: a tenth of the ops; net/tls: 1 s runs after 0.2 s
#                warm-up and 1,000 idle connections (default 5 s after
#                0.5 s, 10,000)
#   -runs N      every program (loop) or every case (net) N times,
#                interleaved; the tables show medians (default 1; net's
#                100-conn 64-byte case always runs at least 3 rounds, to
#                show the noise)
#   -conns LIST, -sizes LIST
#                net/tls cells, comma-separated (default 1,100,1000 and
#                64,4096)
#
# The method is the one the project's reference scripts use, so numbers
# compare with theirs (bench/README.md): loop programs run one after the
# other, interleaved round by round; each echo server is pinned to core 1
# and the load generator (GOMAXPROCS=1) to core 0 with taskset, all servers
# up at once and the cases interleaved impl by impl; each run waits for a
# quiet machine and is retried when other load showed in its window;
# srv_us/msg is the server's CPU time per echoed message; idle memory is a
# fresh server's VmRSS growth holding idle connections.
#
# Output under $BENCH_OUT (default /tmp/gotevent-bench): bin/ (every
# binary, the TLS test certificate), loop/ (raw.txt, median.txt,
# table.txt), net/ and tls/ (results.txt raw lines, table.txt, server and
# load logs). Environment: BENCH_PORT (first port, default 17300),
# BENCH_BUSY_PCT (15), BENCH_TRIES (3), BENCH_QUIET_WAIT (120 s),
# BENCH_CAP_S (c-tevent's per-measurement cap, 60 s).
# Exit status: 1 if a program failed its self-check or a server did not
# start (the tables are still printed), 2 on bad usage.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
self="$here/run.sh"
OUT="${BENCH_OUT:-/tmp/gotevent-bench}"
BIN="$OUT/bin"
export GOWORK=off

usage() {
	awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$self" >&2
	exit 2
}
die() {
	echo "bench/run.sh: $*" >&2
	exit 2
}

MODE=all
case "${1:-}" in
loop | net | tls | all)
	MODE="$1"
	shift
	;;
esac
ARGS=("$@")
quick=0 RUNS=1 TLS=0
WORKLOADS=() impls=() CONNS=(1 100 1000) SIZES=(64 4096) CONNS_ARG= SIZES_ARG=
while (($#)); do
	a="$1"
	shift
	case "$a" in
	-quick | --quick) quick=1 ;;
	-tls | --tls) TLS=1 ;;
	-runs | --runs)
		RUNS="${1:-}"
		shift
		[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "-runs needs a positive number"
		;;
	-w | --w)
		[ $# -ge 1 ] || usage
		WORKLOADS+=("$1")
		shift
		;;
	-conns | --conns | -sizes | --sizes)
		[[ "${1:-}" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "$a needs a comma-separated list of positive numbers"
		IFS=, read -r -a list <<<"$1"
		if [[ "$a" == *conns ]]; then CONNS=("${list[@]}") CONNS_ARG="$1"; else SIZES=("${list[@]}") SIZES_ARG="$1"; fi
		shift
		;;
	-h | -help | --help) usage ;;
	-*) echo "bench/run.sh: unknown flag $a" >&2 && usage ;;
	*) impls+=("$a") ;;
	esac
done
((TLS)) && [[ "$MODE" == net ]] && MODE=tls
((TLS)) && [[ "$MODE" != tls ]] && die "-tls goes with mode net"
[[ "$MODE" == tls ]] && TLS=1
[[ "$MODE" == loop || "$MODE" == all ]] || ((!${#WORKLOADS[@]})) || die "-w goes with mode loop"

# header: what made the table (printed above it and kept in table.txt)
header() {
	local rev dirty=""
	rev="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	[ -n "$(git -C "$root" status --porcelain 2>/dev/null)" ] && dirty="+changes"
	echo "bench/run.sh $MODE ${ARGS[*]:-}"
	echo "commit $rev$dirty, $(date -u '+%Y-%m-%d %H:%M UTC'), Linux $(uname -r), $(go version | awk '{print $3}'), $(nproc) cores"
}

# ---- all: the three modes one after the other --------------------------------
if [[ "$MODE" == all ]]; then
	((${#impls[@]})) && die "mode all runs every impl: name impls with mode loop, net or tls"
	pass=(-runs "$RUNS") lpass=() npass=()
	((quick)) && pass+=(-quick)
	for w in ${WORKLOADS[@]+"${WORKLOADS[@]}"}; do lpass+=(-w "$w"); done
	[ -n "$CONNS_ARG" ] && npass+=(-conns "$CONNS_ARG")
	[ -n "$SIZES_ARG" ] && npass+=(-sizes "$SIZES_ARG")
	status=0
	bash "$self" loop "${pass[@]}" ${lpass[@]+"${lpass[@]}"} || status=1
	for m in net tls; do
		bash "$self" "$m" "${pass[@]}" ${npass[@]+"${npass[@]}"} || status=1
	done
	exit "$status"
fi

# ---- build -------------------------------------------------------------------
log() { echo "bench/run.sh: $*" >&2; }

# need_debs PKG...: apt-install the Debian packages that are not installed
# (only where dpkg and apt-get exist; elsewhere the compiler says what is
# missing).
need_debs() {
	local p missing=() sudo=()
	command -v dpkg-query >/dev/null && command -v apt-get >/dev/null || return 0
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	[ "$(id -u)" -ne 0 ] && sudo=(sudo)
	log "installing ${missing[*]}"
	${sudo[@]+"${sudo[@]}"} apt-get update -qq >&2 &&
		DEBIAN_FRONTEND=noninteractive ${sudo[@]+"${sudo[@]}"} apt-get install -y -qq "${missing[@]}" >&2
}

mkdir -p "$BIN" || exit 1
CC="${CC:-cc}"
command -v go >/dev/null || die "missing go on PATH"
command -v "$CC" >/dev/null || need_debs gcc
command -v "$CC" >/dev/null || die "missing $CC on PATH"

build_loop() {
	local cflags=(-O2 -g -Wall -Wextra -Wno-unused-parameter -pthread) src="$here/loop/c"
	need_debs pkg-config libtevent-dev libtalloc-dev libevent-dev libev-dev || return 1
	log "building the loop programs into $BIN"
	# shellcheck disable=SC2046 # pkg-config output is meant to split
	"$CC" "${cflags[@]}" -o "$BIN/tevent_bench" "$src/tevent_bench.c" \
		$(pkg-config --cflags --libs tevent talloc) -lm &&
		"$CC" "${cflags[@]}" -o "$BIN/libevent_bench" "$src/libevent_bench.c" \
			$(pkg-config --cflags --libs libevent libevent_pthreads) &&
		"$CC" "${cflags[@]}" -o "$BIN/libev_bench" "$src/libev_bench.c" -lev && # no .pc in Debian's libev-dev
		"$CC" "${cflags[@]}" -o "$BIN/epoll_bench" "$src/epoll_bench.c" &&
		(cd "$here" && go build -o "$BIN/gonative_bench" ./loop/gonative) &&
		(cd "$root" && go build -o "$BIN/go-tevent-bench" ./cmd/tevent-bench)
}

build_net() {
	local cflags=(-O2 -Wall -Wextra) src="$here/net/c"
	need_debs pkg-config libevent-dev libtevent-dev libtalloc-dev liburing-dev libssl-dev || return 1
	log "building the echo servers, echo-load and idle-conns into $BIN"
	# shellcheck disable=SC2046 # pkg-config output is meant to split
	"$CC" "${cflags[@]}" -o "$BIN/echo-libevent" "$src/echo_libevent.c" $(pkg-config --cflags --libs libevent) &&
		"$CC" "${cflags[@]}" -o "$BIN/echo-tevent" "$src/echo_tevent.c" $(pkg-config --cflags --libs tevent talloc) &&
		"$CC" "${cflags[@]}" -o "$BIN/echo-epoll" "$src/echo_epoll.c" &&
		"$CC" "${cflags[@]}" -o "$BIN/echo-uring" "$src/echo_uring.c" $(pkg-config --cflags --libs liburing) &&
		"$CC" "${cflags[@]}" -o "$BIN/echo-libevent-tls" "$src/echo_libevent_tls.c" \
			$(pkg-config --cflags --libs libevent_openssl libevent openssl) &&
		(cd "$here" && go build -o "$BIN/" ./net/cmd/...) &&
		(cd "$root" && go build -o "$BIN/echo-go-tevent" ./cmd/tevent-echo)
}

# ---- loop --------------------------------------------------------------------
run_loop() {
	local dir="$OUT/loop" all=(go-tevent c-tevent c-libevent c-libev c-epoll go-native)
	local -A binof=([go-tevent]=go-tevent-bench [c-tevent]=tevent_bench [c-libevent]=libevent_bench
		[c-libev]=libev_bench [c-epoll]=epoll_bench [go-native]=gonative_bench)
	local i w pass=() status=0 r name out start
	((${#impls[@]})) || impls=("${all[@]}")
	for i in "${impls[@]}"; do
		[[ -n "${binof[$i]:-}" ]] || die "unknown loop impl '$i' (known: ${all[*]})"
	done
	((quick)) && pass+=(-quick)
	for w in ${WORKLOADS[@]+"${WORKLOADS[@]}"}; do pass+=(-w "$w"); done
	build_loop || die "build failed"
	mkdir -p "$dir" || exit 1
	local raw="$dir/raw.txt"
	out="$(mktemp)"
	: >"$raw"
	for ((r = 1; r <= RUNS; r++)); do
		for name in "${impls[@]}"; do
			log "run $r/$RUNS: $name"
			start=$SECONDS
			if ! "$BIN/${binof[$name]}" ${pass[@]+"${pass[@]}"} >"$out"; then
				log "$name exited non-zero (self-check failed?)"
				status=1
			fi
			log "$name took $((SECONDS - start)) s"
			grep '^BENCH ' "$out" >>"$raw"
		done
	done
	rm -f "$out"
	{
		header
		echo "ns per op, median of the runs (lower is better); ratio to go-tevent, or to c-tevent where go-tevent has no number"
		awk -v median_out="$dir/median.txt" -v order="${impls[*]}" '
BEGIN {
	# Row order of bench/SPEC.md; rows not listed here follow in order seen.
	nspec = split("immediate n=2000000|timer_fire n=1000|timer_fire n=10000|" \
		"timer_fire n=100000|timer_churn timers=10000,ops=1000000|" \
		"pipes pipes=100,active=1|pipes pipes=1000,active=100|" \
		"pipes pipes=8000,active=100|fd_churn n=1000000|" \
		"proxy_fanin producers=4,msgs=250000|proxy_pingpong n=100000|" \
		"req_chain n=1000000", spec, "|")
	for (i = 1; i <= nspec; i++) { rows[++nrows] = spec[i]; known_row[spec[i]] = 1 }
	nimpl = split(order, impls, " ")
	for (i = 1; i <= nimpl; i++) known_impl[impls[i]] = 1
	printf "" > median_out
}
$1 == "BENCH" && NF >= 6 {
	row = $2 " " $4; impl = $3
	ns = $5; sub(/^ns_per_op=/, "", ns)
	ops = $6; sub(/^ops=/, "", ops)
	if (!(row in known_row)) { known_row[row] = 1; rows[++nrows] = row }
	if (!(impl in known_impl)) { known_impl[impl] = 1; impls[++nimpl] = impl }
	seen_impl[impl] = 1
	k = row SUBSEP impl
	n = ++cnt[k]; val[k, n] = ns + 0; lastops[k] = ops
}
function median(k,    n, i, j, t, a) {
	n = cnt[k]
	for (i = 1; i <= n; i++) a[i] = val[k, i]
	for (i = 2; i <= n; i++) {          # insertion sort; n is tiny
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
	if (n % 2) return a[(n + 1) / 2]
	return (a[n / 2] + a[n / 2 + 1]) / 2
}
END {
	for (r = 1; r <= nrows; r++) {
		row = rows[r]
		any = 0
		for (i = 1; i <= nimpl; i++) if ((row SUBSEP impls[i]) in cnt) any = 1
		if (!any) continue
		ref = ""
		if ((row SUBSEP "go-tevent") in cnt) ref = "go-tevent"
		else if ((row SUBSEP "c-tevent") in cnt) ref = "c-tevent"
		refv = (ref != "") ? median(row SUBSEP ref) : 0
		split(row, parts, " ")
		printf "\n%s %s\n", parts[1], parts[2]
		printf "  %-11s %14s %6s %12s\n", "impl", "ns_per_op", "runs", (ref != "" ? "x " ref : "ratio")
		for (i = 1; i <= nimpl; i++) {
			if (!(impls[i] in seen_impl)) continue   # never ran at all
			k = row SUBSEP impls[i]
			if (!(k in cnt)) {
				printf "  %-11s %14s %6s %12s\n", impls[i], "-", "-", "-"
				continue
			}
			m = median(k)
			ratio = (refv > 0) ? sprintf("%.2f", m / refv) : "-"
			printf "  %-11s %14.2f %6d %12s\n", impls[i], m, cnt[k], ratio
			printf "BENCH %s %s %s ns_per_op=%.2f ops=%s\n", parts[1], impls[i], parts[2], m, lastops[k] >> median_out
		}
	}
}' "$raw"
	} | tee "$dir/table.txt"
	return "$status"
}

if [[ "$MODE" == loop ]]; then
	run_loop
	exit $?
fi

# ---- net and tls ---------------------------------------------------------------
BUILD="$OUT/$MODE"
PORT_BASE="${BENCH_PORT:-17300}"
ALL_PLAIN=(go-tevent net gnet nbio libevent tevent epoll uring)
ALL_TLS=(go-tevent-tls net-tls nbio-tls libevent-tls)
EXTRA_PLAIN=(uring-coop uring-none go-tevent-uring) # variants, run only when named
EXTRA_TLS=(nbio-tls-ext)
if ((TLS)); then
	ALL=("${ALL_TLS[@]}") EXTRA=("${EXTRA_TLS[@]}") LMODE=tls
else
	ALL=("${ALL_PLAIN[@]}") EXTRA=("${EXTRA_PLAIN[@]}") LMODE=plain
fi
for i in "${!impls[@]}"; do
	((TLS)) && [[ "${impls[$i]}" == go-tevent ]] && impls[$i]=go-tevent-tls
	ok=0
	for x in "${ALL[@]}" "${EXTRA[@]}"; do [[ "${impls[$i]}" == "$x" ]] && ok=1; done
	((ok)) || die "unknown impl '${impls[$i]}' (known in mode $MODE: ${ALL[*]} ${EXTRA[*]})"
done
((${#impls[@]})) || impls=("${ALL[@]}")

if ((quick)); then
	DUR=1s WARM=200ms IDLE_CONNS=1000
else
	DUR=5s WARM=500ms IDLE_CONNS=10000
fi
TLS_IDLE_NOTE=
((TLS)) && TLS_IDLE_NOTE="; TLS: each did a handshake and one 64-byte echo"
NOISE_CONNS=100 NOISE_SIZE=64 NOISE_RUNS=3
HS_CONNS=100 HS_SIZE=64
STATUS=0

build_net || die "build failed"
mkdir -p "$BUILD" || exit 1
CERT="$BIN/tls-cert.pem" KEY="$BIN/tls-key.pem"
if ((TLS)) && { [ ! -s "$CERT" ] || [ ! -s "$KEY" ]; }; then
	log "new self-signed ECDSA P-256 certificate: $CERT"
	"$BIN/tls-cert" -cert "$CERT" -key "$KEY" || exit 1
fi

# ---- core split ----------------------------------------------------------------
LOADPIN=() SRVPIN=()
if command -v taskset >/dev/null && (($(nproc) >= 2)); then
	LOADPIN=(taskset -c 0)
	SRVPIN=(taskset -c 1)
else
	log "no taskset or fewer than 2 cores: running unpinned"
fi

results="$BUILD/results.txt"
tsv="$BUILD/results.tsv"
header | sed 's/^/# /' >"$results"
: >"$tsv"
LIVE_PIDS=()

cleanup() {
	local p
	for p in ${LIVE_PIDS[@]+"${LIVE_PIDS[@]}"}; do
		kill -TERM "$p" 2>/dev/null
	done
}
trap cleanup EXIT

# start_server IMPL PORT LOGPREFIX -> sets SRV_PID, returns non-zero on failure
start_server() {
	local impl="$1" port="$2" log="$3" i bin="$BIN/echo-$1" args=()
	case "$impl" in
	go-tevent-tls) bin="$BIN/echo-go-tevent" args=(-tls-cert "$CERT" -tls-key "$KEY") ;;
	go-tevent-uring) bin="$BIN/echo-go-tevent" args=(-backend io_uring) ;;
	*-tls) args=(-cert "$CERT" -key "$KEY") ;;
	nbio-tls-ext) bin="$BIN/echo-nbio-tls" args=(-cert "$CERT" -key "$KEY" -ext) ;;
	uring-*) bin="$BIN/echo-uring" args=(-mode "${impl#uring-}") ;;
	esac
	: >"$log.out"
	: >"$log.err"
	${SRVPIN[@]+"${SRVPIN[@]}"} "$bin" -addr "127.0.0.1:$port" ${args[@]+"${args[@]}"} >"$log.out" 2>"$log.err" &
	SRV_PID=$!
	LIVE_PIDS+=("$SRV_PID")
	for ((i = 0; i < 100; i++)); do
		grep -qx READY "$log.out" && return 0
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	log "echo-$impl did not print READY; stderr:"
	cat "$log.err" >&2
	stop_pid "$SRV_PID"
	return 1
}

# stop_pid PID: SIGTERM, up to 5 s grace, then SIGKILL; only this PID.
stop_pid() {
	local pid="$1" i
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "PID $pid ignored SIGTERM, sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	local keep=() p
	for p in "${LIVE_PIDS[@]}"; do [[ "$p" != "$pid" ]] && keep+=("$p"); done
	LIVE_PIDS=(${keep[@]+"${keep[@]}"})
}

vmrss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}
field() { # field NAME LINE -> value of NAME=... in LINE
	local k="$1" line="$2" w
	for w in $line; do [[ "$w" == "$k="* ]] && {
		echo "${w#*=}"
		return
	}; done
	echo "?"
}

# ---- echo runs: all servers up at once, cases interleaved across impls --------
# Interleaving (case by case, impl by impl) spreads slow drifts of a shared
# machine over all impls instead of charging them to whichever ran last.
declare -A PORT SPID
active=()
idx=0
for impl in "${impls[@]}"; do
	PORT[$impl]=$((PORT_BASE + idx))
	idx=$((idx + 1))
	: >"$BUILD/load-$impl.err"
	if start_server "$impl" "${PORT[$impl]}" "$BUILD/server-$impl"; then
		SPID[$impl]=$SRV_PID
		active+=("$impl")
		log "$impl: echo on 127.0.0.1:${PORT[$impl]} pid ${SPID[$impl]}"
	else
		echo "$impl FAILED_TO_START" >>"$results"
		STATUS=1
	fi
done

# Each run waits until the machine is quiet (other programs below BUSY_PCT %
# of a core for a second); a run during which other programs still used more
# than that (echo-load's other_cpu_pct) is retried, up to TRIES times in
# all; the last try is kept and, if still disturbed, starred in the table.
BUSY_PCT="${BENCH_BUSY_PCT:-15}"
TRIES="${BENCH_TRIES:-3}"
QUIET_WAIT="${BENCH_QUIET_WAIT:-120}"
# busy_1s: % of one core the whole machine used over the next second
# (user+nice+system+irq+softirq, /proc/stat, 100 ticks per second).
busy_1s() {
	local a b
	read -r -a a </proc/stat
	sleep 1
	read -r -a b </proc/stat
	echo $(((b[1] + b[2] + b[3] + b[6] + b[7]) - (a[1] + a[2] + a[3] + a[6] + a[7])))
}
# quiet_gate: between runs our processes are idle, so any load is someone
# else's; wait (up to QUIET_WAIT s) until a second passes below BUSY_PCT.
quiet_gate() {
	local t busy
	for ((t = 0; t < QUIET_WAIT; t++)); do
		busy=$(busy_1s)
		((busy <= BUSY_PCT)) && return 0
		((t == 0)) && log "machine busy (${busy}% of a core), waiting for quiet"
	done
	log "still busy after ${QUIET_WAIT}s, running anyway"
}
run_case() { # run_case IMPL SIZE CONNS REP MODE (plain, tls or hs)
	local impl="$1" size="$2" conns="$3" rep="$4" mode="$5" out rc line cpu other try rate upm
	local margs=()
	case "$mode" in
	tls) margs=(-tls) ;;
	hs) margs=(-handshakes) ;;
	esac
	for ((try = 1; try <= TRIES; try++)); do
		quiet_gate
		out=$(GOMAXPROCS=1 ${LOADPIN[@]+"${LOADPIN[@]}"} "$BIN/echo-load" -impl "$impl" \
			-addr "127.0.0.1:${PORT[$impl]}" -conns "$conns" -size "$size" \
			-duration "$DUR" -warmup "$WARM" -server-pid "${SPID[$impl]}" ${margs[@]+"${margs[@]}"} \
			2>>"$BUILD/load-$impl.err")
		rc=$?
		line=$(grep -E '^(ECHO|HANDSHAKE)' <<<"$out")
		cpu=$(grep '^CPU' <<<"$out")
		other=$(field other_cpu_pct "$cpu")
		[[ "$other" =~ ^[0-9]+$ ]] || other=0
		((other <= BUSY_PCT)) && break
		echo "DISTURBED try=$try other_cpu_pct=$other $line" >>"$results"
	done
	[[ -n "$line" ]] || line="ECHO impl=$impl conns=$conns size=$size msgs_per_s=0 p50_us=? p99_us=? errors=rc$rc"
	echo "$line" | tee -a "$results"
	[[ -n "$cpu" ]] && echo "$cpu" >>"$results"
	rate=$(field msgs_per_s "$line") upm=$(field srv_us_per_msg "$cpu")
	[[ "$mode" == hs ]] && rate=$(field handshakes_per_s "$line") upm=$(field srv_us_per_hs "$cpu")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$impl" "$size" "$conns" "$rep" \
		"$rate" "$(field p50_us "$line")" "$(field p99_us "$line")" \
		"$(field errors "$line")" "$(field srv_cpu_pct "$cpu")" \
		"$upm" "$(field load_cpu_pct "$cpu")" "$other" "$mode" >>"$tsv"
}

for size in "${SIZES[@]}"; do
	for conns in "${CONNS[@]}"; do
		reps=$RUNS
		((conns == NOISE_CONNS && size == NOISE_SIZE && reps < NOISE_RUNS)) && reps=$NOISE_RUNS
		for ((rep = 1; rep <= reps; rep++)); do
			for impl in ${active[@]+"${active[@]}"}; do
				run_case "$impl" "$size" "$conns" "$rep" "$LMODE"
			done
		done
	done
done
if ((TLS)); then # handshakes: dial, handshake, one echo, close, again
	for ((rep = 1; rep <= RUNS; rep++)); do
		for impl in ${active[@]+"${active[@]}"}; do
			run_case "$impl" "$HS_SIZE" "$HS_CONNS" "$rep" hs
		done
	done
fi
for impl in ${active[@]+"${active[@]}"}; do
	stop_pid "${SPID[$impl]}"
done

# ---- idle: a fresh server per impl, so echo-run heap growth is not counted ----
idx=0
for impl in "${impls[@]}"; do
	idle_port=$((PORT_BASE + 50 + idx))
	idx=$((idx + 1))
	log "$impl: idle on 127.0.0.1:$idle_port ($IDLE_CONNS conns)"
	if ! start_server "$impl" "$idle_port" "$BUILD/server-$impl-idle"; then
		echo "IDLE impl=$impl conns=$IDLE_CONNS rss_kb=? kb_per_conn=? (server failed)" | tee -a "$results"
		STATUS=1
		continue
	fi
	spid=$SRV_PID
	sleep 1
	base=$(vmrss_kb "$spid")
	hold="$BUILD/idle-$impl.out"
	: >"$hold"
	iargs=()
	((TLS)) && iargs=(-tls -size 64)
	GOMAXPROCS=1 ${LOADPIN[@]+"${LOADPIN[@]}"} "$BIN/idle-conns" -addr "127.0.0.1:$idle_port" \
		-conns "$IDLE_CONNS" ${iargs[@]+"${iargs[@]}"} >"$hold" 2>"$BUILD/idle-$impl.err" &
	ipid=$!
	LIVE_PIDS+=("$ipid")
	for ((i = 0; i < 1200; i++)); do
		grep -q '^HOLDING' "$hold" && break
		kill -0 "$ipid" 2>/dev/null || break
		sleep 0.1
	done
	held=$(field conns "$(grep '^HOLDING' "$hold")")
	ierr=$(field errors "$(grep '^HOLDING' "$hold")")
	sleep 2 # let the server finish whatever it does after the last echo
	rss=$(vmrss_kb "$spid")
	stop_pid "$ipid"
	stop_pid "$spid"
	per=$(awk -v r="$rss" -v b="$base" -v n="$held" 'BEGIN{ if (n > 0) printf "%.2f", (r-b)/n; else print "?" }')
	echo "IDLE impl=$impl conns=$held rss_kb=$((rss - base)) kb_per_conn=$per base_rss_kb=$base errors=$ierr" | tee -a "$results"
done

# ---- table ---------------------------------------------------------------------
{
	echo
	header
	echo "Echo, closed loop, 1 message in flight per connection; $DUR per run after $WARM warm-up."
	echo "Load: echo-load GOMAXPROCS=1 on core 0; server on core 1. In the measured window:"
	echo "srv_cpu / load_cpu = CPU time used by server / load generator, % of one core"
	echo "(srv_cpu near 100% = server-bound; load_cpu near 100% with srv_cpu lower = load-bound);"
	echo "srv_us/msg = server CPU microseconds per echoed message (10 ms tick resolution);"
	echo "other = CPU used by anything else on the machine (other programs, stray softirq); runs with"
	echo "other > $BUSY_PCT% were retried up to $TRIES times in all; * = a kept run still had other > $BUSY_PCT%."
	echo "Rows with 3 runs show the median of each column; per-run values below."
	if ((TLS)); then
		echo "mode tls: TLS 1.3 echo (X25519, ECDSA P-256 cert), handshakes done before the window."
		echo "mode hs: each connection loops dial, full TLS 1.3 handshake, one $HS_SIZE-byte echo, close;"
		echo "msgs/s = handshakes/s, p50/p99 = the whole cycle, srv_us/msg = server CPU us per handshake."
	fi
	echo
	sort -t$'\t' -k2,2n -k3,3n "$tsv" | awk -F'\t' -v order="${impls[*]}" -v busy="$BUSY_PCT" '
	BEGIN {
		n = split(order, o, " "); for (i = 1; i <= n; i++) rank[o[i]] = i
		mrank["plain"] = 1; mrank["tls"] = 2; mrank["hs"] = 3
	}
	{
		md = ($13 == "" ? "plain" : $13)
		k = md SUBSEP $2 SUBSEP $3 SUBSEP $1
		cnt[k]++; m[k, cnt[k]] = $5; p99[k, cnt[k]] = $7; p50[k, cnt[k]] = $6
		err[k] += ($8 ~ /^[0-9]+$/ ? $8 : 1)
		cpu[k, cnt[k]] = $9; upm[k, cnt[k]] = $10; lcpu[k, cnt[k]] = $11; oth[k, cnt[k]] = $12
		if ($12 + 0 > busy) star[k] = "*"
		if (!((k) in seen)) { seen[k] = 1; keys[++nk] = k }
	}
	function med(arr, k, c,   v, i, j, t) {
		for (i = 1; i <= c; i++) v[i] = arr[k, i] + 0
		for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
		return v[int((c + 1) / 2)]
	}
	function after(x, y) { # x, y: mode, size, conns, impl
		if (mrank[x[1]] != mrank[y[1]]) return mrank[x[1]] > mrank[y[1]]
		if (x[2] + 0 != y[2] + 0) return x[2] + 0 > y[2] + 0
		if (x[3] + 0 != y[3] + 0) return x[3] + 0 > y[3] + 0
		return rank[x[4]] > rank[y[4]]
	}
	END {
		printf "%-13s %-5s %5s %6s %9s %9s %9s %8s %10s %8s %6s %6s %4s\n", "impl", "mode", "size", "conns", "msgs/s", "p50_us", "p99_us", "srv_cpu", "srv_us/msg", "load_cpu", "other", "errors", "runs"
		# order: mode, size, conns, impl (as given)
		for (a = 1; a <= nk; a++) {
			for (b = a + 1; b <= nk; b++) {
				split(keys[a], x, SUBSEP); split(keys[b], y, SUBSEP)
				if (after(x, y)) { t = keys[a]; keys[a] = keys[b]; keys[b] = t }
			}
		}
		last = ""
		for (a = 1; a <= nk; a++) {
			k = keys[a]; split(k, x, SUBSEP); c = cnt[k]
			if (last != "" && last != x[1] SUBSEP x[2] SUBSEP x[3]) print ""
			last = x[1] SUBSEP x[2] SUBSEP x[3]
			printf "%-13s %-5s %5s %6s %9.0f %9.1f %9.1f %7.0f%% %10.2f %7.0f%% %5.0f%% %6d %4d%s\n", x[4], x[1], x[2], x[3], med(m, k, c), med(p50, k, c), med(p99, k, c), med(cpu, k, c), med(upm, k, c), med(lcpu, k, c), med(oth, k, c), err[k], c, star[k]
		}
		print ""
		print "Noise (same case repeated): msgs/s of each run, spread = (max-min)/median"
		for (a = 1; a <= nk; a++) {
			k = keys[a]; c = cnt[k]
			if (c < 2) continue
			split(k, x, SUBSEP)
			lo = hi = m[k, 1] + 0; runs = ""; pr = ""
			for (i = 1; i <= c; i++) {
				v = m[k, i] + 0; if (v < lo) lo = v; if (v > hi) hi = v
				runs = runs (i > 1 ? " / " : "") sprintf("%.0f", v)
				pr = pr (i > 1 ? " / " : "") p99[k, i]
			}
			md = med(m, k, c)
			printf "  %-13s %-5s size=%s conns=%s  msgs/s %s  spread %.1f%%  p99_us %s\n", x[4], x[1], x[2], x[3], runs, (md > 0 ? 100 * (hi - lo) / md : 0), pr
		}
	}'
	if ((TLS)); then
		echo
		echo "Negotiated (first connection of the first run, as echo-load saw it):"
		for impl in ${active[@]+"${active[@]}"}; do
			printf "  %-13s %s\n" "$impl" "$(grep -m1 '^echo-load: tls ' "$BUILD/load-$impl.err" | cut -d' ' -f3-)"
		done
	fi
	echo
	echo "Idle connections (fresh server; rss_kb = VmRSS holding them - VmRSS at 0 conns)${TLS_IDLE_NOTE:-}:"
	printf "%-13s %7s %10s %11s %12s\n" impl conns rss_kb kb_per_conn base_rss_kb
	grep '^IDLE' "$results" | while read -r line; do
		printf "%-13s %7s %10s %11s %12s\n" "$(field impl "$line")" "$(field conns "$line")" \
			"$(field rss_kb "$line")" "$(field kb_per_conn "$line")" "$(field base_rss_kb "$line")"
	done
} | tee "$BUILD/table.txt"
exit "$STATUS"
