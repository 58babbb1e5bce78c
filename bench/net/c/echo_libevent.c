/*
 * echo_libevent.c: impl libevent of bench/run.sh net (built as
 * echo-libevent).
 *
 * Echo server on libevent 2.1, written the way a libevent
 * user would: evconnlistener accepts, one bufferevent per connection, the
 * read callback moves the whole input evbuffer to the output evbuffer
 * (no copy, chains are handed over), the event callback frees the
 * bufferevent on EOF or error.  One event_base, one thread.
 *
 * usage: echo-libevent -addr 127.0.0.1:PORT
 * prints READY on stdout once listening, exits on SIGTERM/SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

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

static void read_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_add_buffer(bufferevent_get_output(bev),
			    bufferevent_get_input(bev));
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_free(bev);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct event_base *base = arg;
	struct bufferevent *bev;
	int one = 1;
	(void)l; (void)sa; (void)salen;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		evutil_closesocket(fd);
		return;
	}
	bufferevent_setcb(bev, read_cb, NULL, event_cb, NULL);
	if (bufferevent_enable(bev, EV_READ | EV_WRITE) != 0)
		bufferevent_free(bev);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	(void)l; (void)arg;
	/* EMFILE and friends: report and keep listening. */
	fprintf(stderr, "accept: %s\n", strerror(EVUTIL_SOCKET_ERROR()));
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig; (void)what;
	event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1:7004";
	struct sockaddr_in sin;
	struct event_base *base;
	struct evconnlistener *ln;
	struct event *sigterm, *sigint;
	int i;

	for (i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "-addr") || !strcmp(argv[i], "--addr")) &&
		    i + 1 < argc)
			addr = argv[++i];
		else {
			fprintf(stderr, "usage: %s -addr HOST:PORT\n", argv[0]);
			return 2;
		}
	}
	if (parse_addr(addr, &sin) != 0) {
		fprintf(stderr, "bad -addr %s\n", addr);
		return 2;
	}
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);

	base = event_base_new();
	if (base == NULL) {
		fprintf(stderr, "event_base_new failed\n");
		return 1;
	}
	ln = evconnlistener_new_bind(base, accept_cb, base,
				     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
				     4096, (struct sockaddr *)&sin, sizeof(sin));
	if (ln == NULL) {
		fprintf(stderr, "listen %s: %s\n", addr, strerror(errno));
		return 1;
	}
	evconnlistener_set_error_cb(ln, accept_error_cb);

	sigterm = evsignal_new(base, SIGTERM, signal_cb, base);
	sigint = evsignal_new(base, SIGINT, signal_cb, base);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);

	printf("READY\n");
	fflush(stdout);
	event_base_dispatch(base);

	event_free(sigterm);
	event_free(sigint);
	evconnlistener_free(ln);
	event_base_free(base);
	return 0;
}
