/*
 * libev_bench.c - the bench/SPEC.md workloads on libev 4.
 * impl name: c-libev
 *
 * Loops come from ev_loop_new(EVBACKEND_EPOLL). libev watchers live in
 * caller memory and libev never allocates per watcher, so the watchers are
 * plain arrays allocated outside the timed part (that is the libev idiom:
 * a watcher is embedded in the caller's own object).
 *
 * How each workload maps:
 *   immediate       ev_feed_event() on a generic watcher (ev_watcher, never
 *                   started) whose callback feeds itself again. This is
 *                   libev's "make this callback pending now", the analogue
 *                   of libevent's event_active; libev invokes watchers that
 *                   become pending during ev_invoke_pending in the same
 *                   pass. (Not ev_idle: an idle watcher runs once per loop
 *                   iteration, so every op would include a full iteration
 *                   with a non-blocking epoll_wait; not ev_prepare either,
 *                   which is tied to iterations in the same way.)
 *   timer_fire      ev_timer with a negative `after` (-1 s + r) relative
 *                   to ev_now, refreshed with ev_now_update() once before
 *                   the adds. Expired timers all fire in one iteration.
 *   timer_churn     ev_timer_stop() a random watcher, ev_timer_set(60 s + r),
 *                   ev_timer_start() it again (libev: 4-ary heap). With no
 *                   loop turns, ev_now stays at its cached value, as it
 *                   would for a libev caller.
 *   pipes           one ev_io per pipe, ev_run(EVRUN_ONCE) until done.
 *   fd_churn        literal: ev_io_start(read), stop/set(read|write)/start,
 *                   stop/set(read)/start, stop. CAVEAT: libev applies fd
 *                   changes to the kernel lazily, at the next loop
 *                   iteration (fd_reify), and only if the final interest
 *                   differs. With no loop turn in the op, libev makes no
 *                   epoll_ctl call at all, so this number is watcher
 *                   bookkeeping only, not comparable with the
 *                   4-syscall anchors.
 *   proxy_fanin,
 *   proxy_pingpong  ev_async + ev_async_send(). ev_async coalesces (many
 *                   sends, one callback), so calls are carried in a
 *                   mutex-protected queue (bench_common.h callq: one entry
 *                   per call) and ev_async_send() is only the wake-up, sent
 *                   by the producer that finds the queue idle. The consumer
 *                   counts entries it ran, so nothing is lost or doubled.
 *   req_chain       skipped: libev has no request/future abstraction.
 *
 * Build: cc -O2 libev_bench.c -lev -pthread   (Debian's libev ships no .pc)
 */
#include "bench_common.h"

#include <ev.h>

static struct ev_loop *new_loop(void)
{
	struct ev_loop *loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
	if (loop == NULL) {
		die("ev_loop_new(EVBACKEND_EPOLL) failed");
	}
	return loop;
}

/* ================================================================== */
/* immediate                                                           */
/* ================================================================== */

struct imm_state {
	ev_watcher w;	/* first member: the callback gets &w */
	uint64_t count, n;
};

static void imm_cb(struct ev_loop *loop, ev_watcher *w, int revents)
{
	struct imm_state *st = (struct imm_state *)w;
	if (++st->count < st->n) {
		ev_feed_event(loop, w, EV_CUSTOM);
	}
}

static void bench_immediate(void)
{
	const char *param = "n=2000000";
	struct ev_loop *loop = new_loop();
	struct imm_state st = {.n = scaled(2000000)};
	ev_init(&st.w, imm_cb);

	uint64_t t0 = now_ns();
	ev_feed_event(loop, &st.w, EV_CUSTOM);
	while (st.count < st.n) {
		ev_run(loop, EVRUN_NOWAIT);
	}
	uint64_t t1 = now_ns();

	if (st.count != st.n) {
		check_failed("immediate", param, "ran %llu of %llu",
			     (unsigned long long)st.count, (unsigned long long)st.n);
	} else {
		report("immediate", param, t1 - t0, st.n);
	}
	ev_loop_destroy(loop);
}

/* ================================================================== */
/* timer_fire                                                          */
/* ================================================================== */

static uint64_t timers_fired;

static void fire_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	timers_fired++;	/* a non-repeating timer stops itself */
}

static void bench_timer_fire(void)
{
	static const struct {
		uint64_t n;
		const char *param;
	} rows[] = {
		{1000, "n=1000"}, {10000, "n=10000"}, {100000, "n=100000"},
	};

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		const uint64_t n = scaled(rows[r].n);
		struct ev_loop *loop = new_loop();
		ev_timer *timers = calloc(n, sizeof(*timers));
		if (timers == NULL) {
			die("out of memory");
		}
		rng_reset();
		timers_fired = 0;

		uint64_t t0 = now_ns();
		ev_now_update(loop);
		for (uint64_t i = 0; i < n; i++) {
			double after = -1.0 + (double)rng_sub_second_ns() / 1e9;
			ev_timer_init(&timers[i], fire_cb, after, 0.);
			ev_timer_start(loop, &timers[i]);
		}
		while (timers_fired < n) {
			ev_run(loop, EVRUN_ONCE);
		}
		uint64_t t1 = now_ns();

		if (timers_fired != n) {
			check_failed("timer_fire", rows[r].param, "fired %llu of %llu",
				     (unsigned long long)timers_fired,
				     (unsigned long long)n);
		} else {
			report("timer_fire", rows[r].param, t1 - t0, n);
		}
		ev_loop_destroy(loop);
		free(timers);
	}
}

/* ================================================================== */
/* timer_churn                                                         */
/* ================================================================== */

static uint64_t churn_fired;

static void never_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	churn_fired++;
}

static void bench_timer_churn(void)
{
	const char *param = "timers=10000,ops=1000000";
	const uint64_t live = 10000, ops = scaled(1000000);
	struct ev_loop *loop = new_loop();
	ev_timer *timers = calloc(live, sizeof(*timers));
	if (timers == NULL) {
		die("out of memory");
	}
	churn_fired = 0;
	rng_reset();
	ev_now_update(loop);
	for (uint64_t i = 0; i < live; i++) {
		ev_timer_init(&timers[i], never_cb,
			      60.0 + (double)rng_sub_second_ns() / 1e9, 0.);
		ev_timer_start(loop, &timers[i]);
	}

	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < ops; i++) {
		ev_timer *t = &timers[rng_next() % live];
		double after = 60.0 + (double)rng_sub_second_ns() / 1e9;
		ev_timer_stop(loop, t);
		ev_timer_set(t, after, 0.);
		ev_timer_start(loop, t);
	}
	uint64_t t1 = now_ns();

	uint64_t active = 0;
	for (uint64_t i = 0; i < live; i++) {
		active += ev_is_active(&timers[i]) != 0;
		ev_timer_stop(loop, &timers[i]);
	}
	if (churn_fired != 0 || active != live) {
		check_failed("timer_churn", param, "fired=%llu active=%llu",
			     (unsigned long long)churn_fired,
			     (unsigned long long)active);
	} else {
		report("timer_churn", param, t1 - t0, ops);
	}
	ev_loop_destroy(loop);
	free(timers);
}

/* ================================================================== */
/* pipes                                                               */
/* ================================================================== */

struct pipes_state {
	int npipes;
	int *fds;
	uint64_t reads, writes_left, errors;
};

struct pipe_slot {
	ev_io io;	/* first member */
	struct pipes_state *st;
	int idx;
};

static void pipe_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pipe_slot *slot = (struct pipe_slot *)w;
	struct pipes_state *st = slot->st;
	char ch;

	if (recv(w->fd, &ch, 1, 0) == 1) {
		st->reads++;
	} else {
		st->errors++;
	}
	if (st->writes_left > 0) {
		int next = slot->idx + 1 == st->npipes ? 0 : slot->idx + 1;
		st->writes_left--;
		if (send(st->fds[2 * next + 1], "e", 1, 0) != 1) {
			st->errors++;
		}
	}
}

static void bench_pipes(void)
{
	const uint64_t total = scaled(PIPES_WRITES_TOTAL);

	for (size_t p = 0; p < sizeof(pipes_params) / sizeof(pipes_params[0]); p++) {
		const struct pipes_param *pp = &pipes_params[p];
		if (!ensure_nofile(pp->param, (rlim_t)pp->pipes * 2 + 64)) {
			continue;
		}
		struct ev_loop *loop = new_loop();
		struct pipes_state st = {
			.npipes = pp->pipes,
			.fds = make_socketpairs(pp->pipes),
		};
		struct pipe_slot *slots = calloc((size_t)pp->pipes, sizeof(*slots));
		if (slots == NULL) {
			die("out of memory");
		}
		for (int i = 0; i < pp->pipes; i++) {
			slots[i].st = &st;
			slots[i].idx = i;
			ev_io_init(&slots[i].io, pipe_read_cb, st.fds[2 * i], EV_READ);
			ev_io_start(loop, &slots[i].io);
		}
		/* Let libev push the registrations to the kernel before timing. */
		ev_run(loop, EVRUN_NOWAIT);

		int space = pp->pipes / pp->active;
		st.writes_left = total - (uint64_t)pp->active;

		uint64_t t0 = now_ns();
		for (int i = 0; i < pp->active; i++) {
			if (send(st.fds[2 * (i * space) + 1], "e", 1, 0) != 1) {
				st.errors++;
			}
		}
		while (st.reads + st.errors < total) {
			ev_run(loop, EVRUN_ONCE);
		}
		uint64_t t1 = now_ns();

		if (st.reads != total || st.writes_left != 0 || st.errors != 0) {
			check_failed("pipes", pp->param,
				     "reads=%llu (want %llu) writes_left=%llu errors=%llu",
				     (unsigned long long)st.reads, (unsigned long long)total,
				     (unsigned long long)st.writes_left,
				     (unsigned long long)st.errors);
		} else {
			report("pipes", pp->param, t1 - t0, st.reads);
		}
		for (int i = 0; i < pp->pipes; i++) {
			ev_io_stop(loop, &slots[i].io);
		}
		ev_loop_destroy(loop);
		free(slots);
		close_socketpairs(st.fds, pp->pipes);
	}
}

/* ================================================================== */
/* fd_churn (see the caveat in the header comment)                     */
/* ================================================================== */

static uint64_t churn_calls;

static void churn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	churn_calls++;
}

static void bench_fd_churn(void)
{
	const char *param = "n=1000000";
	const uint64_t n = scaled(1000000);
	struct ev_loop *loop = new_loop();
	int sv[2];
	ev_io w;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
		die("socketpair: %s", strerror(errno));
	}
	churn_calls = 0;

	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		ev_io_init(&w, churn_cb, sv[0], EV_READ);
		ev_io_start(loop, &w);
		ev_io_stop(loop, &w);
		ev_io_set(&w, sv[0], EV_READ | EV_WRITE);
		ev_io_start(loop, &w);
		ev_io_stop(loop, &w);
		ev_io_set(&w, sv[0], EV_READ);
		ev_io_start(loop, &w);
		ev_io_stop(loop, &w);
	}
	uint64_t t1 = now_ns();

	if (churn_calls != 0 || ev_is_active(&w)) {
		check_failed("fd_churn", param, "callbacks=%llu active=%d",
			     (unsigned long long)churn_calls, ev_is_active(&w));
	} else {
		report("fd_churn", param, t1 - t0, n);
	}
	ev_loop_destroy(loop);
	close(sv[0]);
	close(sv[1]);
}

/* ================================================================== */
/* Cross-thread calls: callq + ev_async.                               */
/* ================================================================== */

struct xloop {
	ev_async wake;	/* first member */
	struct ev_loop *loop;
	struct callq q;
	bool done;
};

static void xloop_wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	callq_run(&((struct xloop *)w)->q);
}

static void xloop_init(struct xloop *l)
{
	l->loop = new_loop();
	callq_init(&l->q);
	ev_async_init(&l->wake, xloop_wake_cb);
	ev_async_start(l->loop, &l->wake);
	l->done = false;
}

static void xloop_destroy(struct xloop *l)
{
	ev_async_stop(l->loop, &l->wake);
	ev_loop_destroy(l->loop);
	callq_destroy(&l->q);
}

/* Any thread. */
static inline void xloop_post(struct xloop *l, call_fn fn, void *arg)
{
	if (callq_push(&l->q, fn, arg)) {
		ev_async_send(l->loop, &l->wake);
	}
}

/* Loop thread. */
static void xloop_run_until(struct xloop *l, const uint64_t *counter, uint64_t target)
{
	while (!l->done && (counter == NULL || *counter < target)) {
		ev_run(l->loop, EVRUN_ONCE);
	}
}

struct fanin {
	struct xloop loop;
	uint64_t per_producer, received;
	pthread_barrier_t start;
};

static void fanin_call(void *arg)
{
	((struct fanin *)arg)->received++;
}

static void *fanin_producer(void *arg)
{
	struct fanin *f = arg;
	pthread_barrier_wait(&f->start);
	for (uint64_t i = 0; i < f->per_producer; i++) {
		xloop_post(&f->loop, fanin_call, f);
	}
	return NULL;
}

static void bench_proxy_fanin(void)
{
	const char *param = "producers=4,msgs=250000";
	enum { PRODUCERS = 4 };
	static struct fanin f;
	pthread_t th[PRODUCERS];

	memset(&f, 0, sizeof(f));
	f.per_producer = scaled(250000);
	const uint64_t total = PRODUCERS * f.per_producer;
	xloop_init(&f.loop);
	pthread_barrier_init(&f.start, NULL, PRODUCERS + 1);
	for (int i = 0; i < PRODUCERS; i++) {
		pthread_create(&th[i], NULL, fanin_producer, &f);
	}

	uint64_t t0 = now_ns();
	pthread_barrier_wait(&f.start);
	xloop_run_until(&f.loop, &f.received, total);
	uint64_t t1 = now_ns();

	for (int i = 0; i < PRODUCERS; i++) {
		pthread_join(th[i], NULL);
	}
	if (f.received != total) {
		check_failed("proxy_fanin", param, "received %llu of %llu",
			     (unsigned long long)f.received, (unsigned long long)total);
	} else {
		report("proxy_fanin", param, t1 - t0, total);
	}
	pthread_barrier_destroy(&f.start);
	xloop_destroy(&f.loop);
}

static struct {
	struct xloop a, b;
	uint64_t n, pings, pongs;
	pthread_barrier_t ready;
	uint64_t t0, t1;
} pp;

static void on_pong(void *arg);

static void on_ping(void *arg)	/* on B */
{
	pp.pings++;
	xloop_post(&pp.a, on_pong, NULL);
	if (pp.pings == pp.n) {
		pp.b.done = true;
	}
}

static void on_pong(void *arg)	/* on A */
{
	if (++pp.pongs < pp.n) {
		xloop_post(&pp.b, on_ping, NULL);
	} else {
		pp.a.done = true;
	}
}

static void *pp_thread(void *arg)
{
	struct xloop *me = arg;
	pthread_barrier_wait(&pp.ready);
	if (me == &pp.a) {
		pp.t0 = now_ns();
		xloop_post(&pp.b, on_ping, NULL);
	}
	xloop_run_until(me, NULL, 0);
	if (me == &pp.a) {
		pp.t1 = now_ns();
	}
	return NULL;
}

static void bench_proxy_pingpong(void)
{
	const char *param = "n=100000";
	pthread_t ta, tb;

	memset(&pp, 0, sizeof(pp));
	pp.n = scaled(100000);
	xloop_init(&pp.a);
	xloop_init(&pp.b);
	pthread_barrier_init(&pp.ready, NULL, 2);
	pthread_create(&ta, NULL, pp_thread, &pp.a);
	pthread_create(&tb, NULL, pp_thread, &pp.b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);

	if (pp.pings != pp.n || pp.pongs != pp.n) {
		check_failed("proxy_pingpong", param, "pings=%llu pongs=%llu want %llu",
			     (unsigned long long)pp.pings,
			     (unsigned long long)pp.pongs, (unsigned long long)pp.n);
	} else {
		report("proxy_pingpong", param, pp.t1 - pp.t0, pp.n);
	}
	pthread_barrier_destroy(&pp.ready);
	xloop_destroy(&pp.a);
	xloop_destroy(&pp.b);
}

int main(int argc, char **argv)
{
	bench_parse_args(argc, argv, "c-libev");

	if (want("immediate")) bench_immediate();
	if (want("timer_fire")) bench_timer_fire();
	if (want("timer_churn")) bench_timer_churn();
	if (want("pipes")) bench_pipes();
	if (want("fd_churn")) bench_fd_churn();
	if (want("proxy_fanin")) bench_proxy_fanin();
	if (want("proxy_pingpong")) bench_proxy_pingpong();
	/* req_chain: skipped, see the header comment. */
	return bench_exit_code;
}
