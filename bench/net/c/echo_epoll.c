/*
 * echo_epoll.c: impl epoll of bench/run.sh net (built as echo-epoll).
 *
 * The floor of a readiness loop. Bare C, one thread, no
 * library: level-triggered epoll, nothing per connection but its fd until
 * a write comes up short.
 *
 *  - the listener is in the epoll set (EPOLLIN); on readiness accept4()
 *    takes up to 128 pending connections (non-blocking, TCP_NODELAY) and
 *    adds each with EPOLLIN;
 *  - a readable connection gets one read() into the loop's one buffer
 *    (-buf bytes, default 64 KiB) and one write() of what came in; if the
 *    socket takes only part of it, the tail is copied to a malloc'd
 *    per-connection buffer and the fd is switched to EPOLLOUT only (no reads
 *    until it is drained), then back to EPOLLIN: the only epoll_ctl after
 *    the ADD, and only on a short write;
 *  - EOF or an error closes the fd (which also drops it from the set);
 *  - SIGTERM/SIGINT arrive on a signalfd in the same set: exit 0.
 *
 * usage: echo-epoll -addr 127.0.0.1:PORT [-buf BYTES]
 * prints READY on stdout once listening.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS 256

/* Unsent tail of a short write; NULL for almost every connection. */
struct pending {
	size_t len, off;
	char data[];
};

static struct pending **pend;	/* indexed by fd */
static size_t npend;

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

static void conn_close(int fd)
{
	if ((size_t)fd < npend && pend[fd] != NULL) {
		free(pend[fd]);
		pend[fd] = NULL;
	}
	close(fd);
}

static void set_events(int ep, int fd, unsigned ev)
{
	struct epoll_event e = { .events = ev, .data.fd = fd };
	if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e) != 0)
		conn_close(fd);
}

/* Write p's unsent bytes. 1: all out, 0: socket full, -1: error. */
static int flush_pending(int fd, struct pending *p)
{
	while (p->off < p->len) {
		ssize_t w = write(fd, p->data + p->off, p->len - p->off);
		if (w > 0) {
			p->off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -1;
	}
	return 1;
}

static void on_readable(int ep, int fd, char *buf, size_t bufsz)
{
	ssize_t n, w;
	struct pending *p;

	n = read(fd, buf, bufsz);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(fd);
		return;
	}
	w = write(fd, buf, (size_t)n);
	if (w == n)
		return;
	if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		conn_close(fd);
		return;
	}
	if (w < 0)
		w = 0;
	/* Short write: keep the tail, wait for EPOLLOUT only. */
	if ((size_t)fd >= npend ||
	    (p = malloc(sizeof(*p) + (size_t)(n - w))) == NULL) {
		conn_close(fd);
		return;
	}
	p->len = (size_t)(n - w);
	p->off = 0;
	memcpy(p->data, buf + w, p->len);
	pend[fd] = p;
	set_events(ep, fd, EPOLLOUT);
}

static void on_writable(int ep, int fd)
{
	struct pending *p = (size_t)fd < npend ? pend[fd] : NULL;
	int r;

	if (p == NULL) {
		set_events(ep, fd, EPOLLIN);
		return;
	}
	r = flush_pending(fd, p);
	if (r < 0) {
		conn_close(fd);
		return;
	}
	if (r == 1) {
		free(p);
		pend[fd] = NULL;
		set_events(ep, fd, EPOLLIN);
	}
}

static void on_accept(int ep, int lfd)
{
	static int emfile_reported;
	int i, one = 1;

	for (i = 0; i < 128; i++) {
		struct epoll_event e;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if ((errno == EMFILE || errno == ENFILE) &&
			    !emfile_reported) {
				fprintf(stderr, "accept: %s\n", strerror(errno));
				emfile_reported = 1;
			}
			return;	/* EAGAIN: drained */
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		e.events = EPOLLIN;
		e.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) != 0)
			close(fd);
	}
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1:7006";
	long bufsz = 64 * 1024;
	struct sockaddr_in sin;
	struct epoll_event e, evs[MAX_EVENTS];
	sigset_t mask;
	char *buf;
	int ep, lfd, sfd, one = 1, i, stop = 0;

	for (i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "-addr") || !strcmp(argv[i], "--addr")) &&
		    i + 1 < argc)
			addr = argv[++i];
		else if ((!strcmp(argv[i], "-buf") ||
			  !strcmp(argv[i], "--buf")) && i + 1 < argc)
			bufsz = atol(argv[++i]);
		else {
			fprintf(stderr, "usage: %s -addr HOST:PORT [-buf N]\n",
				argv[0]);
			return 2;
		}
	}
	if (parse_addr(addr, &sin) != 0 || bufsz <= 0) {
		fprintf(stderr, "bad -addr %s or -buf\n", addr);
		return 2;
	}
	npend = raise_nofile();
	pend = calloc(npend, sizeof(*pend));
	buf = malloc((size_t)bufsz);
	if (pend == NULL || buf == NULL) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(lfd, 4096) != 0) {
		fprintf(stderr, "listen %s: %s\n", addr, strerror(errno));
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || sfd < 0) {
		fprintf(stderr, "epoll_create1/signalfd: %s\n", strerror(errno));
		return 1;
	}
	e.events = EPOLLIN;
	e.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
	e.data.fd = sfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &e);

	printf("READY\n");
	fflush(stdout);
	while (!stop) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "epoll_wait: %s\n", strerror(errno));
			return 1;
		}
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			unsigned ev = evs[i].events;
			if (fd == lfd)
				on_accept(ep, lfd);
			else if (fd == sfd)
				stop = 1;
			else if (ev & EPOLLOUT)
				on_writable(ep, fd);
			else if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
				on_readable(ep, fd, buf, (size_t)bufsz);
		}
	}
	return 0;
}
