/*
 * echo_tevent.c: impl tevent of bench/run.sh net (built as echo-tevent).
 *
 * Echo server on Samba's tevent + talloc, written the way a
 * tevent user would (default backend, one tevent_loop_once per turn).
 *
 *  - the listening socket has a TEVENT_FD_READ fd event; its handler
 *    accept4()s every pending connection (non-blocking);
 *  - each connection is a talloc'd struct with its own buffer (-buf bytes,
 *    default 4096, allocated at accept) and one fd event, a talloc child of
 *    the connection, so talloc_free(conn) removes the event and closes fd;
 *  - on TEVENT_FD_READ: one read() into the buffer, then write() it back;
 *    if the socket takes only part of it (EAGAIN), the rest stays in the
 *    buffer, the event is switched to TEVENT_FD_WRITE only (no reads while
 *    the buffer is busy), and the write handler finishes it and switches
 *    back to TEVENT_FD_READ;
 *  - SIGTERM/SIGINT via tevent_add_signal sets a flag that ends the loop.
 *
 * usage: echo-tevent -addr 127.0.0.1:PORT [-buf BYTES]
 * prints READY on stdout once listening.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <talloc.h>
#include <tevent.h>

struct server {
	struct tevent_context *ev;
	int lfd;
	size_t bufsz;
	bool stop;
	bool emfile_reported;
};

struct conn {
	struct server *srv;
	int fd;
	struct tevent_fd *fde;
	char *buf;
	size_t len;	/* bytes in buf waiting to be echoed */
	size_t off;	/* bytes of them already written */
};

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

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Write what is pending in c->buf. Returns 1 when all of it is out,
 * 0 when the socket is full (EAGAIN), -1 on error. */
static int flush_pending(struct conn *c)
{
	while (c->off < c->len) {
		ssize_t w = write(c->fd, c->buf + c->off, c->len - c->off);
		if (w > 0) {
			c->off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -1;
	}
	c->len = c->off = 0;
	return 1;
}

static void conn_handler(struct tevent_context *ev, struct tevent_fd *fde,
			 uint16_t flags, void *private_data)
{
	struct conn *c = talloc_get_type_abort(private_data, struct conn);
	int r;
	(void)ev;

	if (flags & TEVENT_FD_WRITE) {
		r = flush_pending(c);
		if (r < 0) {
			talloc_free(c);
			return;
		}
		if (r == 1)
			tevent_fd_set_flags(fde, TEVENT_FD_READ);
		return;
	}

	if (flags & TEVENT_FD_READ) {
		ssize_t n = read(c->fd, c->buf, c->srv->bufsz);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
			      errno == EINTR))
			return;
		if (n <= 0) {
			talloc_free(c);	/* EOF or error: frees fde, closes fd */
			return;
		}
		c->len = (size_t)n;
		c->off = 0;
		r = flush_pending(c);
		if (r < 0) {
			talloc_free(c);
			return;
		}
		if (r == 0)	/* socket full: wait until it drains */
			tevent_fd_set_flags(fde, TEVENT_FD_WRITE);
	}
}

static void accept_handler(struct tevent_context *ev, struct tevent_fd *fde,
			   uint16_t flags, void *private_data)
{
	struct server *srv = talloc_get_type_abort(private_data, struct server);
	int one = 1;
	int i;
	(void)fde;
	(void)flags;

	for (i = 0; i < 128; i++) {
		struct conn *c;
		int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if ((errno == EMFILE || errno == ENFILE) &&
			    !srv->emfile_reported) {
				fprintf(stderr, "accept: %s\n", strerror(errno));
				srv->emfile_reported = true;
			}
			return;	/* EAGAIN: drained */
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

		c = talloc_zero(srv, struct conn);
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->srv = srv;
		c->fd = fd;
		c->buf = talloc_array(c, char, srv->bufsz);
		c->fde = tevent_add_fd(ev, c, fd, TEVENT_FD_READ,
				       conn_handler, c);
		if (c->buf == NULL || c->fde == NULL) {
			talloc_free(c);	/* the fde, if any, goes with it */
			close(fd);
			continue;
		}
		tevent_fd_set_auto_close(c->fde);
	}
}

static void signal_handler(struct tevent_context *ev, struct tevent_signal *se,
			   int signum, int count, void *siginfo,
			   void *private_data)
{
	struct server *srv = talloc_get_type_abort(private_data, struct server);
	(void)ev; (void)se; (void)signum; (void)count; (void)siginfo;
	srv->stop = true;
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1:7005";
	long bufsz = 4096;
	struct sockaddr_in sin;
	struct server *srv;
	struct tevent_fd *lfde;
	int lfd, one = 1, i;

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
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);

	srv = talloc_zero(NULL, struct server);
	srv->bufsz = (size_t)bufsz;
	srv->ev = tevent_context_init(srv);
	if (srv->ev == NULL) {
		fprintf(stderr, "tevent_context_init failed\n");
		return 1;
	}

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(lfd, 4096) != 0) {
		fprintf(stderr, "listen %s: %s\n", addr, strerror(errno));
		return 1;
	}
	srv->lfd = lfd;
	lfde = tevent_add_fd(srv->ev, srv, lfd, TEVENT_FD_READ,
			     accept_handler, srv);
	if (lfde == NULL) {
		fprintf(stderr, "tevent_add_fd(listener) failed\n");
		return 1;
	}
	tevent_fd_set_auto_close(lfde);
	if (tevent_add_signal(srv->ev, srv, SIGTERM, 0, signal_handler, srv) ==
		    NULL ||
	    tevent_add_signal(srv->ev, srv, SIGINT, 0, signal_handler, srv) ==
		    NULL) {
		fprintf(stderr, "tevent_add_signal failed\n");
		return 1;
	}

	printf("READY\n");
	fflush(stdout);
	while (!srv->stop) {
		if (tevent_loop_once(srv->ev) != 0) {
			fprintf(stderr, "tevent_loop_once: %s\n",
				strerror(errno));
			break;
		}
	}
	talloc_free(srv);
	return 0;
}
