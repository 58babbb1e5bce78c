// Package httpsrv serves HTTP/1.1 on tserver, the tevent server fast
// path, with handlers written for net/http: a Server is a tserver.Handler
// that parses requests from each data callback's bytes (split anywhere,
// pipelined, keep-alive per HTTP/1.1 and HTTP/1.0 rules, bodies with
// Content-Length or chunked, Expect: 100-continue) and runs an
// http.Handler on the connection's loop with an http.ResponseWriter that
// writes what net/http's would, byte for byte: status line, header order,
// Date, Content-Type sniffing, Content-Length or chunked, Connection:
// close, and net/http's answers to malformed requests (400, 431, 501,
// 505). Request heads are parsed by http.ReadRequest once this package's
// framer has found their end, so handlers get the *http.Request net/http
// would build. On a tserver with Config.TLS the same holds over TLS, and
// Request.TLS carries the connection's handshake state.
//
// A request is served once it has arrived whole, and the handler runs on
// the loop: it must not block. Limits: Server.MaxHeaderBytes (431),
// MaxHeaderFields (431), MaxBodyBytes (413); tserver.Config.MaxInbound
// must be at least Server.InboundLimit. Not supported: Hijack (so no
// upgrades), HTTP/2, CONNECT tunnels. See the example's README.md for
// the full list of what matches net/http and what does not.
package httpsrv
