// Package backends is the table of the backends a platform has, by the
// names users give them (WithBackend). The core opens backends here and
// otherwise knows them only by their capabilities.
package backends

import (
	"github.com/gotevent/tevent/internal/poller"
)

// Options are what the core passes to every backend it opens; each
// backend takes what applies to it.
type Options struct {
	// Runtime asks epoll backends to wait through the Go runtime's
	// network poller (WithRuntimePoller).
	Runtime bool
	// OnFallback is told when the standard backend falls back to poll:
	// why, and why the fallback failed if it did.
	OnFallback func(cause, err error)
	// OnUnavailable is told when the backend asked for cannot run on
	// this system and another one was opened in its place (io_uring
	// without a usable io_uring: epoll): which, and why.
	OnUnavailable func(name, instead string, cause error)
}

type entry struct {
	name string
	open func(Options) (poller.Backend, error)
}

// Names lists the platform's backends, the default first.
func Names() []string {
	names := make([]string, len(table))
	for i, e := range table {
		names[i] = e.name
	}
	return names
}

// Known reports whether name is one of Names.
func Known(name string) bool {
	for _, e := range table {
		if e.name == name {
			return true
		}
	}
	return false
}

// Open opens the backend called name, which must be Known.
func Open(name string, o Options) (poller.Backend, error) {
	for _, e := range table {
		if e.name == name {
			return e.open(o)
		}
	}
	panic("backends: unknown backend " + name)
}
