/*
 * libevent_bench.c - the bench/SPEC.md workloads on libevent 2.1.
 * impl name: c-libevent
 *
 * Backend: libevent's default on Linux (epoll, no changelist), checked at
 * start-up. Single-threaded workloads use bases made with
 * EVENT_BASE_FLAG_NOLOCK, i.e. what a program that never calls
 * evthread_use_pthreads() gets; the two proxy workloads use locked bases.
 *
 * How each workload maps:
 *   immediate       an fd-less event re-activated with event_active() from
 *                   its own callback. libevent runs callbacks activated
 *                   during a pass in that same pass, so one loop call runs
 *                   the whole chain.
 *   timer_fire      evtimer_new + evtimer_add with a negative relative
 *                   timeout (-1 s + r): libevent takes relative timeouts
 *                   and adds them to its cached clock. Freed in the callback.
 *   timer_churn     event_free() of a random timer, evtimer_new() +
 *                   evtimer_add(60 s + r). libevent keeps a binary min-heap.
 *   pipes           one EV_READ|EV_PERSIST event per pipe, loop with
 *                   EVLOOP_ONCE (the shape of libevent's own test/bench.c).
 *   fd_churn        libevent cannot change an event's flags in place; the
 *                   idiom (bufferevent's) is a read event plus a separate
 *                   write event that is added/deleted to turn write interest
 *                   on and off. So: new+add read event (epoll ADD), new+add
 *                   write event (MOD r|w), del+free write event (MOD r),
 *                   free read event (DEL) - four epoll_ctl calls, like tevent.
 *   proxy_fanin,
 *   proxy_pingpong  libevent has no cross-thread call queue, so calls go
 *                   into a mutex-protected queue (bench_common.h callq) and
 *                   the producer that finds the queue idle wakes the loop
 *                   with event_active() on an fd-less event (thread-safe
 *                   after evthread_use_pthreads(); the base is woken through
 *                   its internal notify fd). Every call is one queue entry,
 *                   so coalesced wake-ups lose nothing.
 *   req_chain       skipped: libevent has no request/future abstraction; the
 *                   honest version is the immediate workload plus a malloc.
 *
 * Build: cc -O2 libevent_bench.c $(pkg-config --cflags --libs libevent libevent_pthreads) -pthread
 */
#include "bench_common.h"

#include <event2/event.h>
#include <event2/thread.h>

static struct event_base *new_base(bool threaded)
{
	struct event_config *cfg = event_config_new();
	if (cfg == NULL) {
		die("event_config_new failed");
	}
	if (!threaded) {
		event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	}
	struct event_base *base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (base == NULL) {
		die("event_base_new_with_config failed");
	}
	if (strcmp(event_base_get_method(base), "epoll") != 0) {
		die("expected the epoll backend, got %s", event_base_get_method(base));
	}
	return base;
}

static struct timeval tv_from_ns(int64_t ns)
{
	/* Normalised so that 0 <= tv_usec < 1e6 (tv_sec may be negative). */
	int64_t us = ns / 1000;
	int64_t sec = us / 1000000, usec = us % 1000000;
	if (usec < 0) {
		usec += 1000000;
		sec -= 1;
	}
	struct timeval tv = {.tv_sec = sec, .tv_usec = usec};
	return tv;
}

/* ================================================================== */
/* immediate                                                           */
/* ================================================================== */

struct imm_state {
	struct event *ev;
	uint64_t count, n;
};

static void imm_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imm_state *st = arg;
	if (++st->count < st->n) {
		event_active(st->ev, EV_TIMEOUT, 0);
	}
}

static void bench_immediate(void)
{
	const char *param = "n=2000000";
	struct event_base *base = new_base(false);
	struct imm_state st = {.n = scaled(2000000)};
	st.ev = event_new(base, -1, 0, imm_cb, &st);

	uint64_t t0 = now_ns();
	event_active(st.ev, EV_TIMEOUT, 0);
	while (st.count < st.n) {
		if (event_base_loop(base, EVLOOP_ONCE) != 0) {
			break;
		}
	}
	uint64_t t1 = now_ns();

	if (st.count != st.n) {
		check_failed("immediate", param, "ran %llu of %llu",
			     (unsigned long long)st.count, (unsigned long long)st.n);
	} else {
		report("immediate", param, t1 - t0, st.n);
	}
	event_free(st.ev);
	event_base_free(base);
}

/* ================================================================== */
/* timer_fire                                                          */
/* ================================================================== */

static uint64_t timers_fired;

static void fire_cb(evutil_socket_t fd, short what, void *arg)
{
	timers_fired++;
	event_free(arg);	/* arg is the event itself (event_self_cbarg) */
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
		struct event_base *base = new_base(false);
		rng_reset();
		timers_fired = 0;

		uint64_t t0 = now_ns();
		for (uint64_t i = 0; i < n; i++) {
			struct timeval tv = tv_from_ns(-1000000000LL +
						       (int64_t)rng_sub_second_ns());
			struct event *ev = evtimer_new(base, fire_cb, event_self_cbarg());
			if (ev == NULL || evtimer_add(ev, &tv) != 0) {
				die("evtimer_new/add failed");
			}
		}
		while (timers_fired < n) {
			if (event_base_loop(base, EVLOOP_ONCE) != 0) {
				break;
			}
		}
		uint64_t t1 = now_ns();

		if (timers_fired != n) {
			check_failed("timer_fire", rows[r].param, "fired %llu of %llu",
				     (unsigned long long)timers_fired,
				     (unsigned long long)n);
		} else {
			report("timer_fire", rows[r].param, t1 - t0, n);
		}
		event_base_free(base);
	}
}

/* ================================================================== */
/* timer_churn                                                         */
/* ================================================================== */

static void never_cb(evutil_socket_t fd, short what, void *arg)
{
	(*(uint64_t *)arg)++;
}

static void bench_timer_churn(void)
{
	const char *param = "timers=10000,ops=1000000";
	const uint64_t live = 10000, ops = scaled(1000000);
	const int64_t sixty = 60LL * 1000000000LL;
	struct event_base *base = new_base(false);
	struct event **timers = calloc(live, sizeof(*timers));
	uint64_t fired = 0;
	if (timers == NULL) {
		die("out of memory");
	}

	rng_reset();
	for (uint64_t i = 0; i < live; i++) {
		struct timeval tv = tv_from_ns(sixty + (int64_t)rng_sub_second_ns());
		timers[i] = evtimer_new(base, never_cb, &fired);
		if (timers[i] == NULL || evtimer_add(timers[i], &tv) != 0) {
			die("evtimer_new/add failed");
		}
	}

	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < ops; i++) {
		uint64_t idx = rng_next() % live;
		struct timeval tv = tv_from_ns(sixty + (int64_t)rng_sub_second_ns());
		event_free(timers[idx]);
		timers[idx] = evtimer_new(base, never_cb, &fired);
		if (timers[idx] == NULL || evtimer_add(timers[idx], &tv) != 0) {
			die("evtimer_new/add failed");
		}
	}
	uint64_t t1 = now_ns();

	uint64_t pending = 0;
	for (uint64_t i = 0; i < live; i++) {
		pending += event_pending(timers[i], EV_TIMEOUT, NULL) != 0;
		event_free(timers[i]);
	}
	if (fired != 0 || pending != live) {
		check_failed("timer_churn", param, "fired=%llu pending=%llu",
			     (unsigned long long)fired, (unsigned long long)pending);
	} else {
		report("timer_churn", param, t1 - t0, ops);
	}
	free(timers);
	event_base_free(base);
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
	struct pipes_state *st;
	int idx;
	struct event *ev;
};

static void pipe_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pipe_slot *slot = arg;
	struct pipes_state *st = slot->st;
	char ch;

	if (recv(fd, &ch, 1, 0) == 1) {
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
		struct event_base *base = new_base(false);
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
			slots[i].ev = event_new(base, st.fds[2 * i], EV_READ | EV_PERSIST,
						pipe_read_cb, &slots[i]);
			if (slots[i].ev == NULL || event_add(slots[i].ev, NULL) != 0) {
				die("event_new/add failed");
			}
		}

		int space = pp->pipes / pp->active;
		st.writes_left = total - (uint64_t)pp->active;

		uint64_t t0 = now_ns();
		for (int i = 0; i < pp->active; i++) {
			if (send(st.fds[2 * (i * space) + 1], "e", 1, 0) != 1) {
				st.errors++;
			}
		}
		while (st.reads + st.errors < total) {
			if (event_base_loop(base, EVLOOP_ONCE) != 0) {
				break;
			}
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
			event_free(slots[i].ev);
		}
		free(slots);
		event_base_free(base);
		close_socketpairs(st.fds, pp->pipes);
	}
}

/* ================================================================== */
/* fd_churn                                                            */
/* ================================================================== */

static void churn_cb(evutil_socket_t fd, short what, void *arg)
{
	(*(uint64_t *)arg)++;
}

static void bench_fd_churn(void)
{
	const char *param = "n=1000000";
	const uint64_t n = scaled(1000000);
	struct event_base *base = new_base(false);
	int sv[2];
	uint64_t calls = 0, failures = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
		die("socketpair: %s", strerror(errno));
	}

	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		/* add a read event */
		struct event *rd = event_new(base, sv[0], EV_READ | EV_PERSIST,
					     churn_cb, &calls);
		failures += rd == NULL || event_add(rd, NULL) != 0;
		/* flags = read|write */
		struct event *wr = event_new(base, sv[0], EV_WRITE | EV_PERSIST,
					     churn_cb, &calls);
		failures += wr == NULL || event_add(wr, NULL) != 0;
		/* flags = read */
		failures += event_del(wr) != 0;
		event_free(wr);
		/* free it */
		event_free(rd);
	}
	uint64_t t1 = now_ns();

	if (failures != 0 || calls != 0) {
		check_failed("fd_churn", param, "failures=%llu callbacks=%llu",
			     (unsigned long long)failures, (unsigned long long)calls);
	} else {
		report("fd_churn", param, t1 - t0, n);
	}
	event_base_free(base);
	close(sv[0]);
	close(sv[1]);
}

/* ================================================================== */
/* Cross-thread calls: callq + event_active.                           */
/* ================================================================== */

struct xloop {
	struct event_base *base;
	struct event *wake;	/* fd-less; activated from other threads */
	struct callq q;
	bool done;
};

static void xloop_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	callq_run(&((struct xloop *)arg)->q);
}

static void xloop_init(struct xloop *l)
{
	l->base = new_base(true);
	l->wake = event_new(l->base, -1, 0, xloop_wake_cb, l);
	if (l->wake == NULL) {
		die("event_new failed");
	}
	callq_init(&l->q);
	l->done = false;
}

static void xloop_destroy(struct xloop *l)
{
	event_free(l->wake);
	event_base_free(l->base);
	callq_destroy(&l->q);
}

/* Any thread. */
static inline void xloop_post(struct xloop *l, call_fn fn, void *arg)
{
	if (callq_push(&l->q, fn, arg)) {
		event_active(l->wake, EV_READ, 0);
	}
}

/* Loop thread. The wake event is never "added", so tell libevent not to
 * return just because no events are pending. */
static void xloop_run_until(struct xloop *l, const uint64_t *counter, uint64_t target)
{
	while (!l->done && (counter == NULL || *counter < target)) {
		if (event_base_loop(l->base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY) < 0) {
			die("event_base_loop failed");
		}
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
	bench_parse_args(argc, argv, "c-libevent");

	/* Must precede every event_base_new for the locked bases. */
	if (evthread_use_pthreads() != 0) {
		die("evthread_use_pthreads failed");
	}

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
