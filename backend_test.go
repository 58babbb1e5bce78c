package tevent

// Backend selection: Backends, SetDefaultBackend, unknown names, SameLoop.

import (
	"errors"
	"slices"
	"testing"
)

func TestBackendsDefaultFirst(t *testing.T) {
	names := Backends()
	if len(names) == 0 {
		t.Fatal("Backends() is empty")
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("Backends() lists %q twice: %v", n, names)
		}
		seen[n] = true
	}
	ev, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	if ev.Backend() != backendInUse(ev, names[0]) {
		t.Errorf("New() uses %q, but Backends() lists %q first", ev.Backend(), names[0])
	}
	for _, n := range names {
		ev, err := New(WithBackend(n))
		if err != nil {
			t.Errorf("New(WithBackend(%q)): %v", n, err)
			continue
		}
		if want := backendInUse(ev, n); ev.Backend() != want {
			t.Errorf("Backend() = %q, want %q", ev.Backend(), want)
		}
		ev.Free()
	}
}

func TestUnknownBackend(t *testing.T) {
	ev, err := New(WithBackend("nope"))
	if !errors.Is(err, ErrUnknownBackend) {
		t.Errorf("New(WithBackend(\"nope\")) error = %v, want ErrUnknownBackend", err)
	}
	if ev != nil {
		t.Errorf("New(WithBackend(\"nope\")) returned a context")
		ev.Free()
	}
	expectErr(t, "SetDefaultBackend(nope)", SetDefaultBackend("nope"), ErrUnknownBackend)
}

func TestSetDefaultBackend(t *testing.T) {
	orig := Backends()
	defer func() {
		if err := SetDefaultBackend(orig[0]); err != nil {
			t.Fatal(err)
		}
		if got := Backends(); !slices.Equal(got, orig) {
			t.Errorf("after restoring the default: Backends() = %v, want %v", got, orig)
		}
	}()
	for _, want := range slices.Backward(orig) {
		if err := SetDefaultBackend(want); err != nil {
			t.Fatalf("SetDefaultBackend(%q): %v", want, err)
		}
		got := Backends()
		if got[0] != want {
			t.Errorf("after SetDefaultBackend(%q): Backends() = %v", want, got)
		}
		if !sameSet(got, orig) {
			t.Errorf("after SetDefaultBackend(%q): Backends() = %v, want a reordering of %v", want, got, orig)
		}
		ev, err := New()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Backend() != backendInUse(ev, want) {
			t.Errorf("New() after SetDefaultBackend(%q) uses %q", want, ev.Backend())
		}
		ev.Free()
	}
}

func TestSameLoop(t *testing.T) {
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Free()
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free()
	if !SameLoop(a, a) {
		t.Error("SameLoop(a, a) = false")
	}
	if SameLoop(a, b) {
		t.Error("SameLoop(a, b) = true for two contexts")
	}
	if SameLoop(a, nil) || SameLoop(nil, a) {
		t.Error("SameLoop with nil = true")
	}
	if a.Scope.Context() != a || a.NewScope().Context() != a {
		t.Error("Scope.Context() does not return the owning context")
	}
}
