/*
 * bench_common.h - helpers shared by the C anchor benchmarks.
 *
 * Everything here is header-only (static functions) so that each anchor is a
 * single translation unit: cc -O2 foo_bench.c <libs>.
 *
 * What lives here:
 *   - the seeded xorshift64 generator of bench/SPEC.md (seed 42, re-seeded at
 *     the start of every measurement so -w selections don't shift sequences);
 *   - a monotonic nanosecond clock;
 *   - command line handling (-w NAME repeatable, -quick);
 *   - the BENCH output line and the failure path (stderr + non-zero exit);
 *   - RLIMIT_NOFILE handling for the pipes workload;
 *   - a mutex-protected call queue ("callq") used by the libevent, libev and
 *     epoll anchors to carry cross-thread calls (tevent has its own).
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Random numbers: xorshift64 (Marsaglia 13/7/17), seed 42.            */
/* ------------------------------------------------------------------ */

static uint64_t bench_rng_state = 42;

static inline void rng_reset(void) { bench_rng_state = 42; }

static inline uint64_t rng_next(void)
{
	uint64_t x = bench_rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	bench_rng_state = x;
	return x;
}

/* r uniform in [0, 1s), in nanoseconds: next() % 1e9. */
static inline uint64_t rng_sub_second_ns(void)
{
	return rng_next() % 1000000000ULL;
}

/* ------------------------------------------------------------------ */
/* Time.                                                               */
/* ------------------------------------------------------------------ */

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * Wall-clock budget for one measurement, so that a full run stays bounded:
 * 60 s, or BENCH_CAP_S seconds from the environment (to measure a slow
 * case on purpose).
 */
static inline uint64_t bench_cap_ns(void)
{
	static uint64_t cap;
	if (cap == 0) {
		const char *env = getenv("BENCH_CAP_S");
		long s = env != NULL ? strtol(env, NULL, 10) : 0;
		cap = (uint64_t)(s > 0 ? s : 60) * 1000000000ULL;
	}
	return cap;
}

/* ------------------------------------------------------------------ */
/* Command line: -w NAME (repeatable, default all) and -quick.         */
/* ------------------------------------------------------------------ */

static const char *bench_impl = "?";
static bool bench_quick = false;
static const char *bench_selected[32];
static int bench_nselected = 0;
static int bench_exit_code = 0;

static const char *const bench_all_workloads[] = {
	"immediate", "timer_fire", "timer_churn", "pipes", "fd_churn",
	"proxy_fanin", "proxy_pingpong", "req_chain", NULL,
};

static void bench_usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-quick] [-w workload]...\nworkloads:", prog);
	for (int i = 0; bench_all_workloads[i] != NULL; i++) {
		fprintf(stderr, " %s", bench_all_workloads[i]);
	}
	fprintf(stderr, "\n");
	exit(2);
}

static void bench_parse_args(int argc, char **argv, const char *impl)
{
	bench_impl = impl;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] == '-' && a[1] == '-') {
			a++; /* accept --quick / --w like Go's flag package */
		}
		if (strcmp(a, "-quick") == 0) {
			bench_quick = true;
		} else if (strcmp(a, "-w") == 0 && i + 1 < argc) {
			const char *w = argv[++i];
			bool known = false;
			for (int k = 0; bench_all_workloads[k] != NULL; k++) {
				known |= strcmp(w, bench_all_workloads[k]) == 0;
			}
			if (!known || bench_nselected == 32) {
				fprintf(stderr, "%s: unknown workload %s\n", argv[0], w);
				bench_usage(argv[0]);
			}
			bench_selected[bench_nselected++] = w;
		} else {
			bench_usage(argv[0]);
		}
	}
}

static bool want(const char *workload)
{
	if (bench_nselected == 0) {
		return true;
	}
	for (int i = 0; i < bench_nselected; i++) {
		if (strcmp(bench_selected[i], workload) == 0) {
			return true;
		}
	}
	return false;
}

/*
 * -quick runs a tenth of the ops. The param printed stays the SPEC row's;
 * for timer_fire, where ops = n, the timer set is a tenth as large too.
 */
static inline uint64_t scaled(uint64_t n) { return bench_quick ? n / 10 : n; }

/* ------------------------------------------------------------------ */
/* Output and failures.                                                */
/* ------------------------------------------------------------------ */

static void report(const char *workload, const char *param,
		   uint64_t elapsed_ns, uint64_t ops)
{
	printf("BENCH %s %s %s ns_per_op=%.2f ops=%llu\n", workload,
	       bench_impl, param, (double)elapsed_ns / (double)ops,
	       (unsigned long long)ops);
	fflush(stdout);
}

/* A correctness check failed: say so, keep going, exit non-zero at the end. */
static void check_failed(const char *workload, const char *param,
			 const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "FAIL %s %s %s: ", workload, bench_impl, param);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	bench_exit_code = 1;
}

/* Setup could not be done at all (out of memory, syscall failure...). */
static void die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: fatal: ", bench_impl);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static void note(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", bench_impl);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/* ------------------------------------------------------------------ */
/* Pipes workload helpers.                                             */
/* ------------------------------------------------------------------ */

/* The SPEC's pipes table rows, shared by every anchor. */
struct pipes_param {
	int pipes;
	int active;
	const char *param;
};

static const struct pipes_param pipes_params[] = {
	{100, 1, "pipes=100,active=1"},
	{1000, 100, "pipes=1000,active=100"},
	{8000, 100, "pipes=8000,active=100"},
};
#define PIPES_WRITES_TOTAL 100000ULL

/*
 * Make sure `want_fds` descriptors can be open. Raises the soft limit up to
 * the hard limit (and tries the hard limit too, which needs CAP_SYS_RESOURCE).
 * Returns false, with the reason on stderr, when it can't.
 */
static bool ensure_nofile(const char *param, rlim_t want_fds)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		return false;
	}
	if (rl.rlim_cur >= want_fds) {
		return true;
	}
	struct rlimit up = rl;
	up.rlim_cur = want_fds;
	if (up.rlim_max < want_fds) {
		up.rlim_max = want_fds;
	}
	if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
		return true;
	}
	if (rl.rlim_max >= want_fds) {
		rl.rlim_cur = want_fds;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
			return true;
		}
	}
	note("pipes %s skipped: needs %llu open files, RLIMIT_NOFILE hard limit "
	     "is %llu and cannot be raised here (%s)",
	     param, (unsigned long long)want_fds,
	     (unsigned long long)rl.rlim_max, strerror(errno));
	return false;
}

/*
 * Create `n` non-blocking AF_UNIX stream socketpairs. fds[2*i] is the read
 * end of pipe i (the one watched), fds[2*i+1] its write end.
 */
static int *make_socketpairs(int n)
{
	int *fds = calloc((size_t)n * 2, sizeof(int));
	if (fds == NULL) {
		die("out of memory");
	}
	for (int i = 0; i < n; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			       0, &fds[2 * i]) != 0) {
			die("socketpair #%d: %s", i, strerror(errno));
		}
	}
	return fds;
}

static void close_socketpairs(int *fds, int n)
{
	for (int i = 0; i < 2 * n; i++) {
		close(fds[i]);
	}
	free(fds);
}

/* ------------------------------------------------------------------ */
/* callq: a mutex-protected multi-producer, single-consumer call queue. */
/* ------------------------------------------------------------------ */
/*
 * Producers append {fn, arg} under a mutex. The push that finds the queue
 * "unarmed" (consumer not yet told) arms it and returns true: that producer
 * must wake the consumer (eventfd write, event_active, ev_async_send...).
 * The consumer swaps the whole buffer out under the mutex, disarms, and
 * runs the calls without holding the lock. So a burst of N calls costs one
 * wake-up, and no call is lost or counted twice: each call is one element.
 */
typedef void (*call_fn)(void *arg);

struct call {
	call_fn fn;
	void *arg;
};

struct callq {
	pthread_mutex_t mu;
	struct call *buf;	/* producer side, guarded by mu */
	size_t len, cap;
	bool armed;		/* a wake-up is owed or in flight */
	struct call *spare;	/* consumer side buffer */
	size_t spare_cap;
};

static inline void callq_init(struct callq *q)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->mu, NULL);
	q->cap = q->spare_cap = 4096;
	q->buf = malloc(q->cap * sizeof(struct call));
	q->spare = malloc(q->spare_cap * sizeof(struct call));
	if (q->buf == NULL || q->spare == NULL) {
		die("out of memory");
	}
}

static inline void callq_destroy(struct callq *q)
{
	pthread_mutex_destroy(&q->mu);
	free(q->buf);
	free(q->spare);
}

/* Returns true when the caller must wake the consumer. */
static inline bool callq_push(struct callq *q, call_fn fn, void *arg)
{
	bool wake;
	pthread_mutex_lock(&q->mu);
	if (q->len == q->cap) {
		size_t ncap = q->cap * 2;
		struct call *nb = realloc(q->buf, ncap * sizeof(struct call));
		if (nb == NULL) {
			die("out of memory");
		}
		q->buf = nb;
		q->cap = ncap;
	}
	q->buf[q->len].fn = fn;
	q->buf[q->len].arg = arg;
	q->len++;
	wake = !q->armed;
	q->armed = true;
	pthread_mutex_unlock(&q->mu);
	return wake;
}

/*
 * Consumer: take everything queued so far and run it. Returns calls run.
 * The spare buffer belongs to the consumer alone, so only the swap itself
 * needs the lock.
 */
static inline size_t callq_run(struct callq *q)
{
	struct call *batch;
	size_t n, batch_cap;

	pthread_mutex_lock(&q->mu);
	batch = q->buf;
	batch_cap = q->cap;
	n = q->len;
	q->buf = q->spare;
	q->cap = q->spare_cap;
	q->len = 0;
	q->armed = false;
	pthread_mutex_unlock(&q->mu);

	for (size_t i = 0; i < n; i++) {
		batch[i].fn(batch[i].arg);
	}

	/* The (possibly grown) batch buffer becomes the next spare. */
	q->spare = batch;
	q->spare_cap = batch_cap;
	return n;
}

#endif /* BENCH_COMMON_H */
