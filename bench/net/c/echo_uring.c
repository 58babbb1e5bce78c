/*
 * echo_uring.c: impl uring of bench/run.sh net (built as echo-uring).
 *
 * The floor of a completion loop. Bare C on liburing, one
 * thread, one ring, no readiness events at all.
 *
 *  - one multishot accept on the listener (re-armed if the kernel ends it);
 *    each accepted fd gets TCP_NODELAY and one multishot recv;
 *  - the recvs take their buffers from one provided-buffer ring (-bufs
 *    buffers of -bufsz bytes, default 2048 x 4 KiB, group 0), registered
 *    with io_uring_register_buf_ring (liburing 2.3, Debian 12, has no
 *    io_uring_setup_buf_ring: the ring is mmap'd here; liburing >= 2.4 uses
 *    io_uring_setup_buf_ring). The pool is pre-faulted at start, so it is
 *    part of the base RSS, not of the per-connection figure;
 *  - a recv completion queues its buffer on the connection; the connection
 *    has at most one send in flight (sends of one stream must not overtake
 *    each other), which sends the received buffer itself (no copy); a short
 *    send is resubmitted for the rest; when the send completes the buffer
 *    goes back to the ring (published once per loop turn) and the next
 *    queued buffer, if any, is sent;
 *  - a recv that ends with ENOBUFS (pool empty) is re-armed once buffers
 *    have come back; EOF or an error ends the connection: the fd is closed
 *    once no recv and no send of it is in flight;
 *  - one io_uring_submit_and_wait(ring, 1) per loop turn, then every CQE;
 *  - SIGTERM/SIGINT are blocked and read through a signalfd read on the
 *    ring: shut the listener down (the ring's teardown after exit is
 *    asynchronous and would keep it listening a moment), exit 0.
 *
 * Ring setup (-mode): "defer" = IORING_SETUP_SINGLE_ISSUER |
 * IORING_SETUP_DEFER_TASKRUN (default: task work runs only inside our
 * submit_and_wait, no IPIs, no interrupted syscalls), "coop" =
 * IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER, "none" = no
 * flags. If the kernel refuses a mode, the next one is tried (with a note
 * on stderr). If io_uring is unavailable altogether (no kernel support,
 * kernel.io_uring_disabled, seccomp) it says so and exits 1.
 *
 * usage: echo-uring -addr 127.0.0.1:PORT [-mode defer|coop|none]
 *                   [-bufs N] [-bufsz BYTES] [-entries N]
 * prints READY on stdout once listening.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <liburing.h>

#if defined(IO_URING_VERSION_MAJOR) && \
	(IO_URING_VERSION_MAJOR > 2 || IO_URING_VERSION_MINOR >= 4)
#define HAVE_SETUP_BUF_RING 1
#endif

#define BGID 0

enum op { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_SIGNAL };

static inline uint64_t ud(enum op op, int fd, unsigned bid)
{
	return (uint64_t)op << 56 | (uint64_t)(bid & 0xffff) << 32 |
	       (uint32_t)fd;
}

struct conn {
	int qhead, qtail;	/* received buffers not yet sent, -1: none */
	unsigned char open, recv_armed, sending, closing, starved;
};

struct buf {
	unsigned len, off;	/* bytes received / already sent */
	int next;		/* next buffer in the connection's queue */
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *pool;
static struct buf *bufs;
static unsigned nbufs, bufsz, returned;
static struct conn *conns;
static size_t nconns;
static int *starved;	/* fds whose recv ended with ENOBUFS */
static size_t nstarved;
static int lfd, sfd, stop;
static struct signalfd_siginfo siginfo;

static int parse_addr(const char *s, struct sockaddr_in *sin)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, colon - s);
	host[colon - s] = '\0';
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((unsigned short)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -1;
	return 0;
}

static size_t raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > (1u << 20) ? (1u << 20) : (size_t)rl.rlim_cur;
}

/* An SQE; when the SQ is full, submit what is there first. */
static struct io_uring_sqe *sqe_get(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (sqe == NULL) {
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
		if (sqe == NULL) {
			fprintf(stderr, "io_uring: no SQE after submit\n");
			exit(1);
		}
	}
	return sqe;
}

static void arm_accept(void)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud(OP_ACCEPT, lfd, 0));
}

static void arm_recv(int fd)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, ud(OP_RECV, fd, 0));
	conns[fd].recv_armed = 1;
}

static void arm_send(int fd, int bid)
{
	struct io_uring_sqe *sqe = sqe_get();
	struct buf *b = &bufs[bid];
	io_uring_prep_send(sqe, fd, pool + (size_t)bid * bufsz + b->off,
			   b->len - b->off, MSG_NOSIGNAL | MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, ud(OP_SEND, fd, (unsigned)bid));
	conns[fd].sending = 1;
}

static void arm_signal(void)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_read(sqe, sfd, &siginfo, sizeof(siginfo), 0);
	io_uring_sqe_set_data64(sqe, ud(OP_SIGNAL, sfd, 0));
}

/* Give a buffer back to the ring; published at the end of the turn. */
static void buf_return(int bid)
{
	io_uring_buf_ring_add(br, pool + (size_t)bid * bufsz, bufsz,
			      (unsigned short)bid,
			      io_uring_buf_ring_mask(nbufs), (int)returned);
	returned++;
}

static void maybe_close(int fd)
{
	struct conn *c = &conns[fd];
	if (!c->closing || c->recv_armed || c->sending)
		return;
	while (c->qhead >= 0) {
		int bid = c->qhead;
		c->qhead = bufs[bid].next;
		buf_return(bid);
	}
	close(fd);
	memset(c, 0, sizeof(*c));
	c->qhead = c->qtail = -1;
}

static void on_accept(struct io_uring_cqe *cqe)
{
	static int reported;
	int fd = cqe->res, one = 1;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		arm_accept();
	if (fd < 0) {
		if (fd == -EINVAL) {
			fprintf(stderr, "io_uring: multishot accept refused "
				"(needs Linux 5.19)\n");
			exit(1);
		}
		if (!reported) {
			fprintf(stderr, "accept: %s\n", strerror(-fd));
			reported = 1;
		}
		return;
	}
	if ((size_t)fd >= nconns) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&conns[fd], 0, sizeof(conns[fd]));
	conns[fd].qhead = conns[fd].qtail = -1;
	conns[fd].open = 1;
	arm_recv(fd);
}

static void on_recv(int fd, struct io_uring_cqe *cqe)
{
	struct conn *c = &conns[fd];
	int res = cqe->res;

	if (cqe->flags & IORING_CQE_F_BUFFER) {
		int bid = (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		if (res <= 0 || c->closing) {
			buf_return(bid);
		} else {
			bufs[bid].len = (unsigned)res;
			bufs[bid].off = 0;
			bufs[bid].next = -1;
			if (c->qtail >= 0)
				bufs[c->qtail].next = bid;
			else
				c->qhead = bid;
			c->qtail = bid;
			if (!c->sending)
				arm_send(fd, bid);
		}
	}
	if (cqe->flags & IORING_CQE_F_MORE)
		return;
	c->recv_armed = 0;
	if (res == -ENOBUFS && !c->closing && nstarved < nconns) {
		c->starved = 1;	/* re-armed when buffers come back */
		starved[nstarved++] = fd;
		return;
	}
	if (res > 0 && !c->closing) {
		arm_recv(fd);	/* the kernel ended it (CQ overflow etc.) */
		return;
	}
	if (res == -EINVAL) {
		fprintf(stderr, "io_uring: multishot recv with provided "
			"buffers refused (needs Linux 6.0)\n");
		exit(1);
	}
	c->closing = 1;		/* EOF or error */
	maybe_close(fd);
}

static void on_send(int fd, unsigned bid, struct io_uring_cqe *cqe)
{
	struct conn *c = &conns[fd];
	struct buf *b = &bufs[bid];

	c->sending = 0;
	if (cqe->res < 0) {
		if (!c->closing) {
			c->closing = 1;
			/* ends the multishot recv, if armed */
			shutdown(fd, SHUT_RDWR);
		}
		maybe_close(fd);
		return;
	}
	b->off += (unsigned)cqe->res;
	if (b->off < b->len && cqe->res > 0) {
		arm_send(fd, (int)bid);
		return;
	}
	c->qhead = b->next;
	if (c->qhead < 0)
		c->qtail = -1;
	buf_return((int)bid);
	if (c->qhead >= 0)
		arm_send(fd, c->qhead);
	else
		maybe_close(fd);
}

static int setup_ring(const char *mode, unsigned entries)
{
	static const struct {
		const char *name;
		unsigned flags;
	} modes[] = {
		{ "defer", IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN },
		{ "coop", IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER },
		{ "none", 0 },
	};
	size_t i, n = sizeof(modes) / sizeof(modes[0]);
	int ret = -EINVAL;

	for (i = 0; i < n && strcmp(modes[i].name, mode); i++)
		;
	if (i == n) {
		fprintf(stderr, "unknown -mode %s (defer, coop, none)\n", mode);
		exit(2);
	}
	for (; i < n; i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		p.flags = modes[i].flags | IORING_SETUP_CQSIZE;
		p.cq_entries = entries * 4;
		ret = io_uring_queue_init_params(entries, &ring, &p);
		if (ret == 0) {
			if (strcmp(modes[i].name, mode))
				fprintf(stderr, "echo_uring: running with "
					"-mode %s\n", modes[i].name);
			return 0;
		}
		if (ret != -EINVAL)
			break;
		fprintf(stderr, "echo_uring: kernel refuses -mode %s (%s)%s\n",
			modes[i].name, strerror(-ret),
			i + 1 < n ? ", trying the next" : "");
	}
	return ret;
}

static int setup_buf_ring(void)
{
	unsigned i;
	int ret;

#ifdef HAVE_SETUP_BUF_RING
	br = io_uring_setup_buf_ring(&ring, nbufs, BGID, 0, &ret);
	if (br == NULL)
		return ret;
#else
	struct io_uring_buf_reg reg;
	void *mem = mmap(NULL, nbufs * sizeof(struct io_uring_buf),
			 PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE,
			 -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	br = mem;
	io_uring_buf_ring_init(br);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)(uintptr_t)br;
	reg.ring_entries = nbufs;
	reg.bgid = BGID;
	ret = io_uring_register_buf_ring(&ring, &reg, 0);
	if (ret != 0)
		return ret;
#endif
	pool = mmap(NULL, (size_t)nbufs * bufsz, PROT_READ | PROT_WRITE,
		    MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	bufs = calloc(nbufs, sizeof(*bufs));
	if (pool == MAP_FAILED || bufs == NULL)
		return -ENOMEM;
	memset(pool, 0, (size_t)nbufs * bufsz);	/* pre-fault: base RSS */
	for (i = 0; i < nbufs; i++)
		buf_return((int)i);
	io_uring_buf_ring_advance(br, (int)returned);
	returned = 0;
	return 0;
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1:7007", *mode = "defer";
	long nb = 2048, bs = 4096, entries = 4096;
	struct sockaddr_in sin;
	sigset_t mask;
	int one = 1, i, ret;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i] + (argv[i][0] == '-' && argv[i][1] == '-');
		if (!strcmp(a, "-addr") && i + 1 < argc)
			addr = argv[++i];
		else if (!strcmp(a, "-mode") && i + 1 < argc)
			mode = argv[++i];
		else if (!strcmp(a, "-bufs") && i + 1 < argc)
			nb = atol(argv[++i]);
		else if (!strcmp(a, "-bufsz") && i + 1 < argc)
			bs = atol(argv[++i]);
		else if (!strcmp(a, "-entries") && i + 1 < argc)
			entries = atol(argv[++i]);
		else {
			fprintf(stderr, "usage: %s -addr HOST:PORT "
				"[-mode defer|coop|none] [-bufs N] "
				"[-bufsz BYTES] [-entries N]\n", argv[0]);
			return 2;
		}
	}
	if (parse_addr(addr, &sin) != 0 || nb < 1 || nb > 32768 ||
	    (nb & (nb - 1)) || bs < 1 || bs > (1 << 20) || entries < 8 ||
	    entries > 32768) {
		fprintf(stderr, "bad -addr %s, -bufs (power of 2 up to 32768), "
			"-bufsz or -entries\n", addr);
		return 2;
	}
	nbufs = (unsigned)nb;
	bufsz = (unsigned)bs;
	nconns = raise_nofile();
	conns = calloc(nconns, sizeof(*conns));
	starved = calloc(nconns, sizeof(*starved));
	if (conns == NULL || starved == NULL) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);

	ret = setup_ring(mode, (unsigned)entries);
	if (ret != 0) {
		FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
		int dis = -1;
		if (f != NULL) {
			if (fscanf(f, "%d", &dis) != 1)
				dis = -1;
			fclose(f);
		}
		fprintf(stderr, "echo_uring: io_uring unavailable: "
			"io_uring_queue_init: %s (kernel.io_uring_disabled=%d; "
			"a seccomp filter or a kernel without CONFIG_IO_URING "
			"also do this); no fallback, use impl epoll\n",
			strerror(-ret), dis);
		return 1;
	}
	ret = setup_buf_ring();
	if (ret != 0) {
		fprintf(stderr, "echo_uring: provided buffer ring: %s "
			"(needs Linux 5.19)\n", strerror(-ret));
		return 1;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sfd < 0 || lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(lfd, 4096) != 0) {
		fprintf(stderr, "listen %s: %s\n", addr, strerror(errno));
		return 1;
	}
	arm_accept();
	arm_signal();

	printf("READY\n");
	fflush(stdout);
	while (!stop) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;

		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN &&
		    ret != -EBUSY) {
			fprintf(stderr, "io_uring_submit_and_wait: %s\n",
				strerror(-ret));
			return 1;
		}
		io_uring_for_each_cqe(&ring, head, cqe) {
			uint64_t u = io_uring_cqe_get_data64(cqe);
			int fd = (int)(uint32_t)u;
			seen++;
			switch ((enum op)(u >> 56)) {
			case OP_ACCEPT:
				on_accept(cqe);
				break;
			case OP_RECV:
				on_recv(fd, cqe);
				break;
			case OP_SEND:
				on_send(fd, (unsigned)(u >> 32) & 0xffff, cqe);
				break;
			case OP_SIGNAL:
				stop = 1;
				break;
			}
		}
		io_uring_cq_advance(&ring, seen);
		if (returned) {
			io_uring_buf_ring_advance(br, (int)returned);
			returned = 0;
			while (nstarved) {
				int fd = starved[--nstarved];
				if (!conns[fd].starved)
					continue;	/* closed since */
				conns[fd].starved = 0;
				if (conns[fd].closing)
					maybe_close(fd);
				else
					arm_recv(fd);
			}
		}
	}
	/* The ring is torn down asynchronously after exit, and its armed
	 * accept keeps the listener in LISTEN until then: take it out of
	 * LISTEN now, so the port is free when we are gone. */
	shutdown(lfd, SHUT_RDWR);
	close(lfd);
	io_uring_queue_exit(&ring);
	return 0;
}
