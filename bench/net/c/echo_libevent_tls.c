/*
 * echo_libevent_tls.c: impl libevent-tls of bench/run.sh net -tls (built
 * as echo-libevent-tls).
 *
 * echo_libevent.c with TLS, the way a libevent user adds
 * it: libevent 2.1's bufferevent_openssl on OpenSSL (3.0 on Debian 12).
 * evconnlistener accepts; each connection gets an SSL from one SSL_CTX and
 * a bufferevent_openssl_socket_new(..., BUFFEREVENT_SSL_ACCEPTING,
 * BEV_OPT_CLOSE_ON_FREE) that owns fd and SSL; the read callback moves the
 * whole decrypted input evbuffer to the output evbuffer, which the
 * bufferevent seals with SSL_write. Per message: SSL_read (the socket BIO
 * read()s the record, OpenSSL decrypts into its record buffer, the
 * bufferevent copies it into the input evbuffer), the callback, SSL_write
 * (encrypt + write()), plus libevent's write-interest epoll_ctl calls.
 * TLS 1.2 and 1.3, OpenSSL defaults otherwise (two session tickets after a
 * TLS 1.3 handshake, 16 KiB+ record buffers per SSL while in use).
 *
 * usage: echo-libevent-tls -addr 127.0.0.1:PORT -cert cert.pem -key key.pem
 *        [-release-buffers]
 * -release-buffers sets SSL_MODE_RELEASE_BUFFERS (free the record buffers
 * of idle connections). Prints READY on stdout once listening, exits 0 on
 * SIGTERM/SIGINT.
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
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

struct server {
	struct event_base *base;
	SSL_CTX *ctx;
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

static void read_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_add_buffer(bufferevent_get_output(bev),
			    bufferevent_get_input(bev));
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		/* handshake failures, resets: drop OpenSSL's error queue */
		ERR_clear_error();
		bufferevent_free(bev);	/* frees the SSL, closes the fd */
	}
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct server *srv = arg;
	struct bufferevent *bev;
	SSL *ssl;
	int one = 1;
	(void)l; (void)sa; (void)salen;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ssl = SSL_new(srv->ctx);
	if (ssl == NULL) {
		evutil_closesocket(fd);
		return;
	}
	bev = bufferevent_openssl_socket_new(srv->base, fd, ssl,
					     BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		evutil_closesocket(fd);
		return;
	}
	/* a peer that closes without close_notify is EOF, not an error */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
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
	const char *addr = "127.0.0.1:7014", *cert = "cert.pem",
		   *key = "key.pem";
	int release = 0, i;
	struct sockaddr_in sin;
	struct server srv;
	struct evconnlistener *ln;
	struct event *sigterm, *sigint;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i] + (argv[i][0] == '-' && argv[i][1] == '-');
		if (!strcmp(a, "-addr") && i + 1 < argc)
			addr = argv[++i];
		else if (!strcmp(a, "-cert") && i + 1 < argc)
			cert = argv[++i];
		else if (!strcmp(a, "-key") && i + 1 < argc)
			key = argv[++i];
		else if (!strcmp(a, "-release-buffers"))
			release = 1;
		else {
			fprintf(stderr, "usage: %s -addr HOST:PORT -cert FILE "
				"-key FILE [-release-buffers]\n", argv[0]);
			return 2;
		}
	}
	if (parse_addr(addr, &sin) != 0) {
		fprintf(stderr, "bad -addr %s\n", addr);
		return 2;
	}
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);

	srv.ctx = SSL_CTX_new(TLS_server_method());
	if (srv.ctx == NULL ||
	    !SSL_CTX_set_min_proto_version(srv.ctx, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(srv.ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(srv.ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(srv.ctx) != 1) {
		fprintf(stderr, "TLS setup (-cert %s -key %s) failed:\n", cert,
			key);
		ERR_print_errors_fp(stderr);
		return 1;
	}
	if (release)
		SSL_CTX_set_mode(srv.ctx, SSL_MODE_RELEASE_BUFFERS);

	srv.base = event_base_new();
	if (srv.base == NULL) {
		fprintf(stderr, "event_base_new failed\n");
		return 1;
	}
	ln = evconnlistener_new_bind(srv.base, accept_cb, &srv,
				     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
				     4096, (struct sockaddr *)&sin, sizeof(sin));
	if (ln == NULL) {
		fprintf(stderr, "listen %s: %s\n", addr, strerror(errno));
		return 1;
	}
	evconnlistener_set_error_cb(ln, accept_error_cb);

	sigterm = evsignal_new(srv.base, SIGTERM, signal_cb, srv.base);
	sigint = evsignal_new(srv.base, SIGINT, signal_cb, srv.base);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);

	printf("READY\n");
	fflush(stdout);
	event_base_dispatch(srv.base);

	event_free(sigterm);
	event_free(sigint);
	evconnlistener_free(ln);
	event_base_free(srv.base);
	SSL_CTX_free(srv.ctx);
	return 0;
}
