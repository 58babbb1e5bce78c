/*
 * epoll_bench.c - the physical floor: the bench/SPEC.md workloads with no
 * event library at all. impl name: c-epoll
 *
 * What "minimal" means here:
 *   pipes           one epoll set, level-triggered, epoll_wait(1024 events),
 *                   handlers called straight from the result array;
 *   fd_churn        the four epoll_ctl calls (ADD, MOD r|w, MOD r, DEL) and
 *                   nothing else;
 *   immediate       a ring buffer of {function, argument} drained in a loop;
 *   timer_fire,
 *   timer_churn     a binary min-heap of (deadline, insertion order, timer)
 *                   entries, each timer knowing its heap slot so removal is
 *                   O(log n); timer structs come from a preallocated pool;
 *                   the churn uses the loop's cached "now" (no loop turns);
 *   proxy_fanin,
 *   proxy_pingpong  a mutex-protected call queue (bench_common.h callq) plus
 *                   an eventfd watched by the loop's epoll set; a wake-up is
 *                   written only when the queue goes from idle to non-empty.
 *   req_chain       not measured: there is no request abstraction to floor;
 *                   it would be the immediate loop plus a malloc.
 *
 * Build: cc -O2 epoll_bench.c -pthread
 */
#include "bench_common.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>

/* ================================================================== */
/* immediate: function-pointer FIFO.                                   */
/* ================================================================== */

struct fifo {
	struct call *ring;
	size_t head, tail, mask;	/* head/tail grow forever; index & mask */
};

static void fifo_init(struct fifo *f, size_t cap_pow2)
{
	f->ring = malloc(cap_pow2 * sizeof(struct call));
	if (f->ring == NULL) {
		die("out of memory");
	}
	f->head = f->tail = 0;
	f->mask = cap_pow2 - 1;
}

static void fifo_grow(struct fifo *f)
{
	size_t cap = f->mask + 1, len = f->tail - f->head;
	struct call *nr = malloc(2 * cap * sizeof(struct call));
	if (nr == NULL) {
		die("out of memory");
	}
	for (size_t i = 0; i < len; i++) {
		nr[i] = f->ring[(f->head + i) & f->mask];
	}
	free(f->ring);
	f->ring = nr;
	f->head = 0;
	f->tail = len;
	f->mask = 2 * cap - 1;
}

static inline void fifo_push(struct fifo *f, call_fn fn, void *arg)
{
	if (f->tail - f->head == f->mask + 1) {
		fifo_grow(f);
	}
	struct call *c = &f->ring[f->tail++ & f->mask];
	c->fn = fn;
	c->arg = arg;
}

/* Run queued calls, including ones queued by the calls themselves. */
static void fifo_run(struct fifo *f)
{
	while (f->head != f->tail) {
		struct call c = f->ring[f->head++ & f->mask];
		c.fn(c.arg);
	}
}

struct imm_state {
	struct fifo *q;
	uint64_t count, n;
};

static void imm_step(void *arg)
{
	struct imm_state *st = arg;
	if (++st->count < st->n) {
		fifo_push(st->q, imm_step, st);
	}
}

static void bench_immediate(void)
{
	const char *param = "n=2000000";
	struct fifo q;
	struct imm_state st = {.q = &q, .n = scaled(2000000)};
	fifo_init(&q, 64);

	uint64_t t0 = now_ns();
	fifo_push(&q, imm_step, &st);
	fifo_run(&q);
	uint64_t t1 = now_ns();

	if (st.count != st.n) {
		check_failed("immediate", param, "ran %llu of %llu",
			     (unsigned long long)st.count, (unsigned long long)st.n);
	} else {
		report("immediate", param, t1 - t0, st.n);
	}
	free(q.ring);
}

/* ================================================================== */
/* Timers: binary min-heap keyed by (deadline, seq).                   */
/* ================================================================== */
/*
 * The keys live in the heap array next to the timer pointer, so sifting
 * compares without touching timer memory; each timer only records its slot
 * (for O(log n) removal), as libev's heap does.
 */

struct timer {
	size_t pos;		/* slot in the heap */
	call_fn fn;
	void *arg;
};

struct hent {
	uint64_t deadline;	/* CLOCK_MONOTONIC ns */
	uint64_t seq;		/* insertion order breaks ties */
	struct timer *t;
};

struct heap {
	struct hent *a;
	size_t len, cap;
	uint64_t seq;
};

static inline bool hent_before(const struct hent *x, const struct hent *y)
{
	return x->deadline < y->deadline ||
	       (x->deadline == y->deadline && x->seq < y->seq);
}

static inline void heap_set(struct heap *h, size_t i, struct hent e)
{
	h->a[i] = e;
	e.t->pos = i;
}

static void heap_up(struct heap *h, size_t i)
{
	struct hent e = h->a[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!hent_before(&e, &h->a[p])) {
			break;
		}
		heap_set(h, i, h->a[p]);
		i = p;
	}
	heap_set(h, i, e);
}

static void heap_down(struct heap *h, size_t i)
{
	struct hent e = h->a[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->len) {
			break;
		}
		if (c + 1 < h->len && hent_before(&h->a[c + 1], &h->a[c])) {
			c++;
		}
		if (!hent_before(&h->a[c], &e)) {
			break;
		}
		heap_set(h, i, h->a[c]);
		i = c;
	}
	heap_set(h, i, e);
}

static void heap_push(struct heap *h, struct timer *t, uint64_t deadline)
{
	if (h->len == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 1024;
		h->a = realloc(h->a, h->cap * sizeof(*h->a));
		if (h->a == NULL) {
			die("out of memory");
		}
	}
	h->a[h->len] = (struct hent){.deadline = deadline, .seq = h->seq++, .t = t};
	heap_up(h, h->len++);
}

static void heap_remove(struct heap *h, struct timer *t)
{
	size_t i = t->pos;
	struct hent last = h->a[--h->len];
	if (i == h->len) {
		return;
	}
	h->a[i] = last;
	if (i > 0 && hent_before(&last, &h->a[(i - 1) / 2])) {
		heap_up(h, i);
	} else {
		heap_down(h, i);
	}
}

/* One loop turn's timer work: fire everything due at `now`. */
static void heap_run_expired(struct heap *h, uint64_t now)
{
	while (h->len > 0 && h->a[0].deadline <= now) {
		struct timer *t = h->a[0].t;
		heap_remove(h, t);
		t->fn(t->arg);
	}
}

static void count_call(void *arg)
{
	(*(uint64_t *)arg)++;
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
		struct heap h = {0};
		struct timer *pool = calloc(n, sizeof(*pool));
		uint64_t fired = 0;
		if (pool == NULL) {
			die("out of memory");
		}
		rng_reset();

		uint64_t t0 = now_ns();
		uint64_t now = now_ns();
		for (uint64_t i = 0; i < n; i++) {
			pool[i].fn = count_call;
			pool[i].arg = &fired;
			heap_push(&h, &pool[i], now - 1000000000ULL + rng_sub_second_ns());
		}
		while (fired < n && h.len > 0) {
			heap_run_expired(&h, now_ns());
		}
		uint64_t t1 = now_ns();

		if (fired != n) {
			check_failed("timer_fire", rows[r].param, "fired %llu of %llu",
				     (unsigned long long)fired, (unsigned long long)n);
		} else {
			report("timer_fire", rows[r].param, t1 - t0, n);
		}
		free(pool);
		free(h.a);
	}
}

static void bench_timer_churn(void)
{
	const char *param = "timers=10000,ops=1000000";
	const uint64_t live = 10000, ops = scaled(1000000);
	const uint64_t sixty = 60ULL * 1000000000ULL;
	struct heap h = {0};
	struct timer *pool = calloc(live, sizeof(*pool));
	uint64_t fired = 0;
	if (pool == NULL) {
		die("out of memory");
	}
	rng_reset();
	/*
	 * A loop reads the clock once per turn; with no turns in this
	 * workload, "now" stays the value read at setup (libev's ev_now
	 * behaves the same way).
	 */
	const uint64_t loop_now = now_ns();
	for (uint64_t i = 0; i < live; i++) {
		pool[i].fn = count_call;
		pool[i].arg = &fired;
		heap_push(&h, &pool[i], loop_now + sixty + rng_sub_second_ns());
	}

	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < ops; i++) {
		struct timer *t = &pool[rng_next() % live];
		uint64_t r = rng_sub_second_ns();
		heap_remove(&h, t);
		heap_push(&h, t, loop_now + sixty + r);
	}
	uint64_t t1 = now_ns();

	if (h.len != live || fired != 0) {
		check_failed("timer_churn", param, "live=%zu fired=%llu", h.len,
			     (unsigned long long)fired);
	} else {
		report("timer_churn", param, t1 - t0, ops);
	}
	free(pool);
	free(h.a);
}

/* ================================================================== */
/* pipes                                                               */
/* ================================================================== */

static void bench_pipes(void)
{
	const uint64_t total = scaled(PIPES_WRITES_TOTAL);
	struct epoll_event evs[1024];

	for (size_t p = 0; p < sizeof(pipes_params) / sizeof(pipes_params[0]); p++) {
		const struct pipes_param *pp = &pipes_params[p];
		if (!ensure_nofile(pp->param, (rlim_t)pp->pipes * 2 + 64)) {
			continue;
		}
		int *fds = make_socketpairs(pp->pipes);
		int ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0) {
			die("epoll_create1: %s", strerror(errno));
		}
		for (int i = 0; i < pp->pipes; i++) {
			struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
			if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[2 * i], &e) != 0) {
				die("epoll_ctl: %s", strerror(errno));
			}
		}

		uint64_t reads = 0, errors = 0;
		uint64_t writes_left = total - (uint64_t)pp->active;
		int space = pp->pipes / pp->active;

		uint64_t t0 = now_ns();
		for (int i = 0; i < pp->active; i++) {
			if (send(fds[2 * (i * space) + 1], "e", 1, 0) != 1) {
				errors++;
			}
		}
		while (reads + errors < total) {
			int n = epoll_wait(ep, evs, 1024, -1);
			if (n < 0 && errno != EINTR) {
				die("epoll_wait: %s", strerror(errno));
			}
			for (int k = 0; k < n; k++) {
				int idx = (int)evs[k].data.u32;
				char ch;
				if (recv(fds[2 * idx], &ch, 1, 0) == 1) {
					reads++;
				} else {
					errors++;
				}
				if (writes_left > 0) {
					int next = idx + 1 == pp->pipes ? 0 : idx + 1;
					writes_left--;
					if (send(fds[2 * next + 1], "e", 1, 0) != 1) {
						errors++;
					}
				}
			}
		}
		uint64_t t1 = now_ns();

		if (reads != total || writes_left != 0 || errors != 0) {
			check_failed("pipes", pp->param,
				     "reads=%llu (want %llu) writes_left=%llu errors=%llu",
				     (unsigned long long)reads, (unsigned long long)total,
				     (unsigned long long)writes_left,
				     (unsigned long long)errors);
		} else {
			report("pipes", pp->param, t1 - t0, reads);
		}
		close(ep);
		close_socketpairs(fds, pp->pipes);
	}
}

/* ================================================================== */
/* fd_churn: ADD, MOD(r|w), MOD(r), DEL.                               */
/* ================================================================== */

static void bench_fd_churn(void)
{
	const char *param = "n=1000000";
	const uint64_t n = scaled(1000000);
	int sv[2], ep = epoll_create1(EPOLL_CLOEXEC);
	uint64_t failures = 0;

	if (ep < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
		die("setup: %s", strerror(errno));
	}

	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < n; i++) {
		struct epoll_event e = {.events = EPOLLIN, .data.u32 = 0};
		failures += epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &e) != 0;
		e.events = EPOLLIN | EPOLLOUT;
		failures += epoll_ctl(ep, EPOLL_CTL_MOD, sv[0], &e) != 0;
		e.events = EPOLLIN;
		failures += epoll_ctl(ep, EPOLL_CTL_MOD, sv[0], &e) != 0;
		failures += epoll_ctl(ep, EPOLL_CTL_DEL, sv[0], NULL) != 0;
	}
	uint64_t t1 = now_ns();

	if (failures != 0) {
		check_failed("fd_churn", param, "%llu epoll_ctl calls failed",
			     (unsigned long long)failures);
	} else {
		report("fd_churn", param, t1 - t0, n);
	}
	close(ep);
	close(sv[0]);
	close(sv[1]);
}

/* ================================================================== */
/* Cross-thread calls: callq + eventfd in an epoll loop.               */
/* ================================================================== */

struct loop {
	int ep, efd;
	struct callq q;
	bool done;		/* set by a call run on this loop */
};

static void loop_init(struct loop *l)
{
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->ep < 0 || l->efd < 0) {
		die("epoll/eventfd: %s", strerror(errno));
	}
	struct epoll_event e = {.events = EPOLLIN};
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, l->efd, &e) != 0) {
		die("epoll_ctl: %s", strerror(errno));
	}
	callq_init(&l->q);
	l->done = false;
}

static void loop_destroy(struct loop *l)
{
	close(l->ep);
	close(l->efd);
	callq_destroy(&l->q);
}

/* Any thread: queue fn(arg) onto l, waking it if it may be asleep. */
static inline void loop_post(struct loop *l, call_fn fn, void *arg)
{
	if (callq_push(&l->q, fn, arg)) {
		uint64_t one = 1;
		if (write(l->efd, &one, sizeof(one)) != sizeof(one)) {
			die("eventfd write: %s", strerror(errno));
		}
	}
}

/* Loop thread: wait for a wake-up, clear it, run what was queued. */
static void loop_run_until(struct loop *l, const uint64_t *counter, uint64_t target)
{
	struct epoll_event e;
	while (!l->done && (counter == NULL || *counter < target)) {
		int n = epoll_wait(l->ep, &e, 1, -1);
		if (n < 0 && errno != EINTR) {
			die("epoll_wait: %s", strerror(errno));
		}
		if (n == 1) {
			uint64_t v;
			(void)!read(l->efd, &v, sizeof(v));
			callq_run(&l->q);
		}
	}
}

/* proxy_fanin ------------------------------------------------------- */

struct fanin {
	struct loop loop;
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
		loop_post(&f->loop, fanin_call, f);
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
	loop_init(&f.loop);
	pthread_barrier_init(&f.start, NULL, PRODUCERS + 1);
	for (int i = 0; i < PRODUCERS; i++) {
		pthread_create(&th[i], NULL, fanin_producer, &f);
	}

	uint64_t t0 = now_ns();
	pthread_barrier_wait(&f.start);
	loop_run_until(&f.loop, &f.received, total);
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
	loop_destroy(&f.loop);
}

/* proxy_pingpong ---------------------------------------------------- */

static struct {
	struct loop a, b;
	uint64_t n, pings, pongs;
	pthread_barrier_t ready;
	uint64_t t0, t1;
} pp;

static void on_pong(void *arg);

/* Runs on B. */
static void on_ping(void *arg)
{
	pp.pings++;
	loop_post(&pp.a, on_pong, NULL);
	if (pp.pings == pp.n) {
		pp.b.done = true;
	}
}

/* Runs on A: a round trip completed. */
static void on_pong(void *arg)
{
	if (++pp.pongs < pp.n) {
		loop_post(&pp.b, on_ping, NULL);
	} else {
		pp.a.done = true;
	}
}

static void *pp_thread(void *arg)
{
	struct loop *me = arg;
	pthread_barrier_wait(&pp.ready);
	if (me == &pp.a) {
		pp.t0 = now_ns();
		loop_post(&pp.b, on_ping, NULL);
	}
	loop_run_until(me, NULL, 0);
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
	loop_init(&pp.a);
	loop_init(&pp.b);
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
	loop_destroy(&pp.a);
	loop_destroy(&pp.b);
}

int main(int argc, char **argv)
{
	bench_parse_args(argc, argv, "c-epoll");

	if (want("immediate")) bench_immediate();
	if (want("timer_fire")) bench_timer_fire();
	if (want("timer_churn")) bench_timer_churn();
	if (want("pipes")) bench_pipes();
	if (want("fd_churn")) bench_fd_churn();
	if (want("proxy_fanin")) bench_proxy_fanin();
	if (want("proxy_pingpong")) bench_proxy_pingpong();
	/* req_chain: not applicable, see the header comment. */
	return bench_exit_code;
}
