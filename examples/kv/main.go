// Command kv is a small Redis-protocol (RESP2) in-memory key-value server
// on the tsocket server fast path. See README.md.
package main

func main() {}
