/*
 * tevent_bench.c - the bench/SPEC.md workloads on Samba's C tevent + talloc.
 * impl name: c-tevent
 *
 * Written the way a tevent user writes code: a context from
 * tevent_context_init() (the default "standard" backend, i.e. epoll), events
 * owned by talloc parents, loops driven by tevent_loop_once() until a flag
 * says the work is done. tevent_loop_once() handles one event per call
 * (one immediate, or one expired timer, or one fd), in that priority order.
 *
 * Build: cc -O2 tevent_bench.c $(pkg-config --cflags --libs tevent talloc) -lm -pthread
 *
 * Every workload checks its own counts; a mismatch prints FAIL on stderr
 * and the program exits 1 after the remaining workloads ran.
 *
 * tevent keeps timers in a list sorted by deadline and inserts by walking
 * from the tail, so adding timers with random deadlines is O(n) each. Each
 * measurement is therefore capped at 60 s of wall time (BENCH_CAP_S in the
 * environment overrides it): timer_fire skips an n whose time, extrapolated
 * from the smaller rows, exceeds the cap (and abandons one that does so
 * anyway), and timer_churn stops at the cap and reports the ops it
 * completed (the ops= field says how many).
 */
#include "bench_common.h"

#include <math.h>
#include <talloc.h>
#include <tevent.h>

static struct tevent_context *new_ev(void)
{
	/* NULL parent: required for contexts used with thread proxies. */
	struct tevent_context *ev = tevent_context_init(NULL);
	if (ev == NULL) {
		die("tevent_context_init failed");
	}
	return ev;
}

/* A timeval `ns` nanoseconds away from `base` (ns may be negative). */
static struct timeval tv_offset(struct timeval base, int64_t ns)
{
	int64_t us = (int64_t)base.tv_sec * 1000000 + base.tv_usec + ns / 1000;
	struct timeval tv = {
		.tv_sec = us / 1000000,
		.tv_usec = us % 1000000,
	};
	return tv;
}

/* ================================================================== */
/* immediate: one immediate that reschedules itself, n times.          */
/* ================================================================== */

struct imm_state {
	uint64_t count, n;
	bool done;
};

static void imm_handler(struct tevent_context *ev, struct tevent_immediate *im,
			void *private_data)
{
	struct imm_state *st = private_data;
	if (++st->count < st->n) {
		tevent_schedule_immediate(im, ev, imm_handler, st);
	} else {
		st->done = true;
	}
}

static void bench_immediate(void)
{
	const char *param = "n=2000000";
	struct imm_state st = {.n = scaled(2000000)};
	struct tevent_context *ev = new_ev();
	struct tevent_immediate *im = tevent_create_immediate(ev);

	uint64_t t0 = now_ns();
	tevent_schedule_immediate(im, ev, imm_handler, &st);
	while (!st.done) {
		if (tevent_loop_once(ev) != 0) {
			check_failed("immediate", param, "tevent_loop_once failed");
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
	talloc_free(ev);
}

/* ================================================================== */
/* timer_fire: n timers with deadlines in the past, loop until fired.  */
/* ================================================================== */

static void count_timer(struct tevent_context *ev, struct tevent_timer *te,
			struct timeval now, void *private_data)
{
	(*(uint64_t *)private_data)++;
	/* tevent frees a timer itself once its handler returned. */
}

/*
 * Predicted wall time for n timers from the rows measured so far (n_i,
 * total_i). Two rows give the growth exponent (clamped to [1, 3]); one row
 * assumes O(n^2), which is what O(n) inserts give before cache effects.
 */
static double predict_total_ns(const double *ns, const double *tot, int rows,
			       double n)
{
	double k = 2.0;
	if (rows >= 2) {
		k = log(tot[rows - 1] / tot[rows - 2]) / log(ns[rows - 1] / ns[rows - 2]);
		k = k < 1.0 ? 1.0 : (k > 3.0 ? 3.0 : k);
	}
	return tot[rows - 1] * pow(n / ns[rows - 1], k);
}

static void bench_timer_fire(void)
{
	static const struct {
		uint64_t n;
		const char *param;
	} rows[] = {
		{1000, "n=1000"}, {10000, "n=10000"}, {100000, "n=100000"},
	};
	const uint64_t cap = bench_cap_ns();
	double done_n[3], done_ns[3];
	int ndone = 0;

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		const uint64_t n = scaled(rows[r].n);
		const char *param = rows[r].param;

		/* Skip a row that would blow the cap instead of wasting it. */
		if (ndone > 0) {
			double predicted = predict_total_ns(done_n, done_ns, ndone, (double)n);
			if (predicted > (double)cap) {
				note("timer_fire %s skipped: predicted %.0f s (growth "
				     "from the smaller n) exceeds the %llu s cap; set "
				     "BENCH_CAP_S to run it",
				     param, predicted / 1e9,
				     (unsigned long long)(cap / 1000000000ULL));
				continue;
			}
		}

		rng_reset();
		struct tevent_context *ev = new_ev();
		uint64_t fired = 0, added = 0;

		uint64_t t0 = now_ns();
		struct timeval now = tevent_timeval_current();
		for (added = 0; added < n; added++) {
			int64_t off = -1000000000LL + (int64_t)rng_sub_second_ns();
			if (tevent_add_timer(ev, ev, tv_offset(now, off),
					     count_timer, &fired) == NULL) {
				die("tevent_add_timer failed");
			}
			if ((added & 1023) == 1023 && now_ns() - t0 > cap) {
				added++;
				break;
			}
		}
		while (added == n && fired < n) {
			if (tevent_loop_once(ev) != 0) {
				check_failed("timer_fire", param, "tevent_loop_once failed");
				break;
			}
		}
		uint64_t t1 = now_ns();

		if (added < n) {
			note("timer_fire %s aborted: only %llu of %llu timers added "
			     "within the %llu s cap",
			     param, (unsigned long long)added, (unsigned long long)n,
			     (unsigned long long)(cap / 1000000000ULL));
		} else if (fired != n) {
			check_failed("timer_fire", param, "fired %llu of %llu",
				     (unsigned long long)fired, (unsigned long long)n);
		} else {
			report("timer_fire", param, t1 - t0, n);
			done_n[ndone] = (double)n;
			done_ns[ndone] = (double)(t1 - t0);
			ndone++;
		}
		talloc_free(ev);
	}
}

/* ================================================================== */
/* timer_churn: 10000 live timers 60 s out; free one, add one.         */
/* ================================================================== */

static void never_fires(struct tevent_context *ev, struct tevent_timer *te,
			struct timeval now, void *private_data)
{
	(*(uint64_t *)private_data)++;
}

static void bench_timer_churn(void)
{
	const char *param = "timers=10000,ops=1000000";
	const uint64_t live = 10000, ops = scaled(1000000);
	struct tevent_context *ev = new_ev();
	struct tevent_timer **timers = calloc(live, sizeof(*timers));
	uint64_t fired = 0, done_ops = 0;
	const int64_t sixty = 60LL * 1000000000LL;

	if (timers == NULL) {
		die("out of memory");
	}
	rng_reset();
	struct timeval now = tevent_timeval_current();
	for (uint64_t i = 0; i < live; i++) {
		timers[i] = tevent_add_timer(
			ev, ev, tv_offset(now, sixty + (int64_t)rng_sub_second_ns()),
			never_fires, &fired);
		if (timers[i] == NULL) {
			die("tevent_add_timer failed");
		}
	}

	const uint64_t cap = bench_cap_ns();
	uint64_t t0 = now_ns();
	for (done_ops = 0; done_ops < ops; done_ops++) {
		uint64_t idx = rng_next() % live;
		int64_t off = sixty + (int64_t)rng_sub_second_ns();
		TALLOC_FREE(timers[idx]);
		/* "now + 60s + r": what a caller writes at the time of the op. */
		timers[idx] = tevent_add_timer(
			ev, ev, tv_offset(tevent_timeval_current(), off),
			never_fires, &fired);
		if (timers[idx] == NULL) {
			die("tevent_add_timer failed");
		}
		if ((done_ops & 1023) == 1023 && now_ns() - t0 > cap) {
			done_ops++;
			note("timer_churn %s capped at %llu s: reporting %llu of "
			     "%llu ops",
			     param, (unsigned long long)(cap / 1000000000ULL),
			     (unsigned long long)done_ops, (unsigned long long)ops);
			break;
		}
	}
	uint64_t t1 = now_ns();

	if (fired != 0) {
		check_failed("timer_churn", param, "%llu timers fired unexpectedly",
			     (unsigned long long)fired);
	} else {
		report("timer_churn", param, t1 - t0, done_ops);
	}
	talloc_free(ev);
	free(timers);
}

/* ================================================================== */
/* pipes: libevent's classic bench.                                    */
/* ================================================================== */

struct pipes_state {
	int npipes;
	int *fds;		/* fds[2i] read end, fds[2i+1] write end */
	uint64_t reads, writes_left, errors;
};

struct pipe_slot {
	struct pipes_state *st;
	int idx;
};

static void pipe_readable(struct tevent_context *ev, struct tevent_fd *fde,
			  uint16_t flags, void *private_data)
{
	struct pipe_slot *slot = private_data;
	struct pipes_state *st = slot->st;
	char ch;

	if (recv(st->fds[2 * slot->idx], &ch, 1, 0) == 1) {
		st->reads++;
	} else {
		st->errors++;
	}
	if (st->writes_left > 0) {
		int next = slot->idx + 1;
		if (next == st->npipes) {
			next = 0;
		}
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
		struct tevent_context *ev = new_ev();
		struct pipes_state st = {
			.npipes = pp->pipes,
			.fds = make_socketpairs(pp->pipes),
		};
		struct pipe_slot *slots = talloc_array(ev, struct pipe_slot, pp->pipes);
		for (int i = 0; i < pp->pipes; i++) {
			slots[i].st = &st;
			slots[i].idx = i;
			if (tevent_add_fd(ev, ev, st.fds[2 * i], TEVENT_FD_READ,
					  pipe_readable, &slots[i]) == NULL) {
				die("tevent_add_fd failed");
			}
		}

		/* The `active` first writes count towards the total. */
		int space = pp->pipes / pp->active;
		st.writes_left = total - (uint64_t)pp->active;

		uint64_t t0 = now_ns();
		for (int i = 0; i < pp->active; i++) {
			if (send(st.fds[2 * (i * space) + 1], "e", 1, 0) != 1) {
				st.errors++;
			}
		}
		while (st.reads + st.errors < total) {
			if (tevent_loop_once(ev) != 0) {
				check_failed("pipes", pp->param, "tevent_loop_once failed");
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
		talloc_free(ev);	/* frees the fd events */
		close_socketpairs(st.fds, pp->pipes);
	}
}

/* ================================================================== */
/* fd_churn: add read, set read|write, set read, free. No loop turns.  */
/* ================================================================== */

static void churn_fd_handler(struct tevent_context *ev, struct tevent_fd *fde,
			     uint16_t flags, void *private_data)
{
	(*(uint64_t *)private_data)++;
}

static void bench_fd_churn(void)
{
	const char *param = "n=1000000";
	const uint64_t n = scaled(1000000);
	struct tevent_context *ev = new_ev();
	int sv[2];
	uint64_t calls = 0, done = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
		die("socketpair: %s", strerror(errno));
	}

	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		struct tevent_fd *fde = tevent_add_fd(ev, ev, sv[0], TEVENT_FD_READ,
						      churn_fd_handler, &calls);
		if (fde == NULL) {
			break;
		}
		tevent_fd_set_flags(fde, TEVENT_FD_READ | TEVENT_FD_WRITE);
		tevent_fd_set_flags(fde, TEVENT_FD_READ);
		talloc_free(fde);
		done++;
	}
	uint64_t t1 = now_ns();

	if (done != n || calls != 0) {
		check_failed("fd_churn", param, "done=%llu of %llu, handler calls=%llu",
			     (unsigned long long)done, (unsigned long long)n,
			     (unsigned long long)calls);
	} else {
		report("fd_churn", param, t1 - t0, n);
	}
	talloc_free(ev);
	close(sv[0]);
	close(sv[1]);
}

/* ================================================================== */
/* proxy_fanin: 4 pthreads schedule calls onto one loop via            */
/* tevent_threaded_context + tevent_threaded_schedule_immediate.       */
/* ================================================================== */

struct fanin_state {
	struct tevent_threaded_context *tctx;
	uint64_t per_producer;
	uint64_t received;	/* only touched on the loop thread */
	pthread_barrier_t start;
};

static void fanin_call(struct tevent_context *ev, struct tevent_immediate *im,
		       void *private_data)
{
	struct fanin_state *st = private_data;
	st->received++;
	/* Each call travelled in its own immediate; freeing it here is
	 * allowed (tevent defers the free until the handler returns). */
	talloc_free(im);
}

static void *fanin_producer(void *arg)
{
	struct fanin_state *st = arg;
	pthread_barrier_wait(&st->start);
	for (uint64_t i = 0; i < st->per_producer; i++) {
		/*
		 * tevent requires a fresh, unscheduled immediate per call. It
		 * is allocated on the NULL talloc context (safe across threads
		 * because null tracking is disabled) and handed to the loop.
		 */
		struct tevent_immediate *im = tevent_create_immediate(NULL);
		if (im == NULL) {
			die("tevent_create_immediate failed");
		}
		tevent_threaded_schedule_immediate(st->tctx, im, fanin_call, st);
	}
	return NULL;
}

static void bench_proxy_fanin(void)
{
	const char *param = "producers=4,msgs=250000";
	enum { PRODUCERS = 4 };
	struct fanin_state st = {.per_producer = scaled(250000)};
	const uint64_t total = PRODUCERS * st.per_producer;
	struct tevent_context *ev = new_ev();
	pthread_t th[PRODUCERS];

	st.tctx = tevent_threaded_context_create(ev, ev);
	if (st.tctx == NULL) {
		die("tevent_threaded_context_create: %s", strerror(errno));
	}
	pthread_barrier_init(&st.start, NULL, PRODUCERS + 1);
	for (int i = 0; i < PRODUCERS; i++) {
		pthread_create(&th[i], NULL, fanin_producer, &st);
	}

	uint64_t t0 = now_ns();
	pthread_barrier_wait(&st.start);
	while (st.received < total) {
		if (tevent_loop_once(ev) != 0) {
			check_failed("proxy_fanin", param, "tevent_loop_once failed");
			break;
		}
	}
	uint64_t t1 = now_ns();

	for (int i = 0; i < PRODUCERS; i++) {
		pthread_join(th[i], NULL);
	}
	if (st.received != total) {
		check_failed("proxy_fanin", param, "received %llu of %llu",
			     (unsigned long long)st.received, (unsigned long long)total);
	} else {
		report("proxy_fanin", param, t1 - t0, total);
	}
	pthread_barrier_destroy(&st.start);
	talloc_free(st.tctx);	/* before its context, as tevent requires */
	talloc_free(ev);
}

/* ================================================================== */
/* proxy_pingpong: two threads, each with its own context, bounce one  */
/* message through tevent_thread_proxy.                                */
/* ================================================================== */

struct pp_side {
	struct tevent_context *ev;
	struct tevent_thread_proxy *inbox;	/* proxy that delivers to ev */
	uint64_t count;
	bool done;
	uint64_t t0, t1;
};

static struct {
	struct pp_side a, b;
	uint64_t n;
	pthread_barrier_t ready, finished;
} pp;

static void on_pong(struct tevent_context *ev, struct tevent_immediate *im,
		    void *private_data);
static void on_ping(struct tevent_context *ev, struct tevent_immediate *im,
		    void *private_data);

/* Schedule `handler` on the context behind `to`, from the calling thread. */
static void pp_send(struct tevent_thread_proxy *to, tevent_immediate_handler_t handler)
{
	/* The proxy takes ownership of the immediate and frees it later. */
	struct tevent_immediate *im = tevent_create_immediate(NULL);
	if (im == NULL) {
		die("tevent_create_immediate failed");
	}
	tevent_thread_proxy_schedule(to, &im, handler, NULL);
}

/* Runs on B's thread. */
static void on_ping(struct tevent_context *ev, struct tevent_immediate *im,
		    void *private_data)
{
	pp.b.count++;
	pp_send(pp.a.inbox, on_pong);
	if (pp.b.count == pp.n) {
		pp.b.done = true;
	}
}

/* Runs on A's thread: one round trip completed. */
static void on_pong(struct tevent_context *ev, struct tevent_immediate *im,
		    void *private_data)
{
	if (++pp.a.count < pp.n) {
		pp_send(pp.b.inbox, on_ping);
	} else {
		pp.a.done = true;
	}
}

static void *pp_thread(void *arg)
{
	struct pp_side *me = arg;

	/* Each thread creates and owns its own context. */
	me->ev = new_ev();
	me->inbox = tevent_thread_proxy_create(me->ev);
	if (me->inbox == NULL) {
		die("tevent_thread_proxy_create: %s", strerror(errno));
	}
	pthread_barrier_wait(&pp.ready);

	if (me == &pp.a) {
		me->t0 = now_ns();
		pp_send(pp.b.inbox, on_ping);
	}
	while (!me->done) {
		if (tevent_loop_once(me->ev) != 0) {
			fprintf(stderr, "proxy_pingpong: tevent_loop_once failed\n");
			break;
		}
	}
	if (me == &pp.a) {
		me->t1 = now_ns();
	}

	/* The peer holds a pointer to our proxy: free only once both stopped. */
	pthread_barrier_wait(&pp.finished);
	talloc_free(me->ev);	/* frees the proxy too */
	return NULL;
}

static void bench_proxy_pingpong(void)
{
	const char *param = "n=100000";
	pthread_t ta, tb;

	memset(&pp, 0, sizeof(pp));
	pp.n = scaled(100000);
	pthread_barrier_init(&pp.ready, NULL, 2);
	pthread_barrier_init(&pp.finished, NULL, 2);
	pthread_create(&ta, NULL, pp_thread, &pp.a);
	pthread_create(&tb, NULL, pp_thread, &pp.b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(&pp.ready);
	pthread_barrier_destroy(&pp.finished);

	if (pp.a.count != pp.n || pp.b.count != pp.n) {
		check_failed("proxy_pingpong", param, "a=%llu b=%llu want %llu",
			     (unsigned long long)pp.a.count,
			     (unsigned long long)pp.b.count, (unsigned long long)pp.n);
	} else {
		report("proxy_pingpong", param, pp.a.t1 - pp.a.t0, pp.n);
	}
}

/* ================================================================== */
/* req_chain: a tevent_req completed via tevent_req_post; its callback */
/* receives it and starts the next one.                                */
/* ================================================================== */

struct noop_state {
	uint64_t value;
};

/* A _send function that finishes at once, as tevent_req_post exists for. */
static struct tevent_req *noop_send(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				    uint64_t value)
{
	struct noop_state *state;
	struct tevent_req *req = tevent_req_create(mem_ctx, &state, struct noop_state);
	if (req == NULL) {
		return NULL;
	}
	state->value = value;
	tevent_req_done(req);
	return tevent_req_post(req, ev);
}

static bool noop_recv(struct tevent_req *req, uint64_t *value)
{
	struct noop_state *state = tevent_req_data(req, struct noop_state);
	enum tevent_req_state rs;
	uint64_t err;

	if (tevent_req_is_error(req, &rs, &err)) {
		tevent_req_received(req);
		return false;
	}
	*value = state->value;
	tevent_req_received(req);
	return true;
}

struct chain_state {
	struct tevent_context *ev;
	uint64_t count, n, errors;
	bool done;
};

static void chain_done(struct tevent_req *req);

static bool chain_start(struct chain_state *cs)
{
	struct tevent_req *req = noop_send(cs->ev, cs->ev, cs->count);
	if (req == NULL) {
		cs->errors++;
		cs->done = true;
		return false;
	}
	tevent_req_set_callback(req, chain_done, cs);
	return true;
}

static void chain_done(struct tevent_req *req)
{
	/* cs lives on the stack, not in talloc: use the untyped accessor. */
	struct chain_state *cs = tevent_req_callback_data_void(req);
	uint64_t value = UINT64_MAX;

	if (!noop_recv(req, &value) || value != cs->count) {
		cs->errors++;
	}
	TALLOC_FREE(req);
	if (++cs->count < cs->n) {
		chain_start(cs);
	} else {
		cs->done = true;
	}
}

static void bench_req_chain(void)
{
	const char *param = "n=1000000";
	struct chain_state cs = {.n = scaled(1000000)};
	cs.ev = new_ev();

	uint64_t t0 = now_ns();
	chain_start(&cs);
	while (!cs.done) {
		if (tevent_loop_once(cs.ev) != 0) {
			check_failed("req_chain", param, "tevent_loop_once failed");
			break;
		}
	}
	uint64_t t1 = now_ns();

	if (cs.count != cs.n || cs.errors != 0) {
		check_failed("req_chain", param, "completed %llu of %llu, errors=%llu",
			     (unsigned long long)cs.count, (unsigned long long)cs.n,
			     (unsigned long long)cs.errors);
	} else {
		report("req_chain", param, t1 - t0, cs.n);
	}
	talloc_free(cs.ev);
}

int main(int argc, char **argv)
{
	bench_parse_args(argc, argv, "c-tevent");

	/*
	 * Thread proxies and cross-thread immediates allocate on the NULL
	 * talloc context from several threads; tevent requires null tracking
	 * off for that. Done first, before anything is allocated.
	 */
	talloc_disable_null_tracking();

	if (want("immediate")) bench_immediate();
	if (want("timer_fire")) bench_timer_fire();
	if (want("timer_churn")) bench_timer_churn();
	if (want("pipes")) bench_pipes();
	if (want("fd_churn")) bench_fd_churn();
	if (want("proxy_fanin")) bench_proxy_fanin();
	if (want("proxy_pingpong")) bench_proxy_pingpong();
	if (want("req_chain")) bench_req_chain();
	return bench_exit_code;
}
