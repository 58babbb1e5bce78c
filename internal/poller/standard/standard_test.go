//go:build linux

package standard

import (
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/poller/epoll"
	"github.com/gotevent/tevent/internal/poller/poll"
	"github.com/gotevent/tevent/internal/poller/pollertest"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fallbacks records what onFallback is told.
type fallbacks struct {
	mu     sync.Mutex
	causes []error
	errs   []error
}

func (f *fallbacks) record(cause, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.causes = append(f.causes, cause)
	f.errs = append(f.errs, err)
}

func (f *fallbacks) get() (causes, errs []error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.causes...), append([]error(nil), f.errs...)
}

func newStandard(t *testing.T, runtime bool, f *fallbacks) *Backend {
	t.Helper()
	var on func(cause, err error)
	if f != nil {
		on = f.record
	}
	b, err := New(runtime, on)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// regularFile opens a temporary regular file, closed at cleanup.
func regularFile(t *testing.T) int {
	t.Helper()
	fd, err := unix.Open(t.TempDir()+"/f", unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// pair returns a socket pair, closed at cleanup.
func pair(t *testing.T) (int, int) {
	t.Helper()
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

// harvest waits until every token of want is reported (and fails on a
// token not in want or in allowed), at most for a generous deadline.
func harvest(t *testing.T, b poller.Backend, want []poller.Token) {
	t.Helper()
	evs := make([]poller.Event, 16)
	seen := map[poller.Token]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(seen) < len(want) {
		if time.Now().After(deadline) {
			t.Fatalf("reported %v of %v", seen, want)
		}
		n, err := b.Wait(evs, 20)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		for _, ev := range evs[:n] {
			ok := false
			for _, w := range want {
				ok = ok || w == ev.Token
			}
			if !ok {
				t.Fatalf("unexpected token %#x", ev.Token)
			}
			seen[ev.Token] = true
		}
	}
}

func TestConformance(t *testing.T) {
	pollertest.Run(t, func(t *testing.T) poller.Backend { return newStandard(t, false, nil) })
}

func TestConformanceRuntime(t *testing.T) {
	pollertest.Run(t, func(t *testing.T) poller.Backend { return newStandard(t, true, nil) })
}

// TestConformanceFallenBack runs the suite on a standard backend that
// has already fallen back to poll.
func TestConformanceFallenBack(t *testing.T) {
	pollertest.Run(t, func(t *testing.T) poller.Backend {
		s := newStandard(t, false, nil)
		fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		// /dev/null is not pollable by epoll (EPERM): falls back.
		if err := s.Add(fd, 1, poller.Readable); err != nil {
			t.Fatalf("Add(/dev/null): %v", err)
		}
		if err := s.Delete(fd); err != nil {
			t.Fatal(err)
		}
		if _, ok := s.Current().(*poll.Backend); !ok {
			t.Fatalf("no fallback: %s", s)
		}
		return s
	})
}

// TestFatalWaitFallsBack makes epoll_wait fail: the backend falls back
// to poll, tells onFallback, and keeps every registration and token.
func TestFatalWaitFallsBack(t *testing.T) {
	var f fallbacks
	s := newStandard(t, false, &f)
	defer s.Close()
	a, b := pair(t)
	c, d := pair(t)
	const tokA, tokC = poller.Token(0xA_0000_000A), poller.Token(0xC_0000_000C)
	if err := s.Add(a, tokA, poller.Readable); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(c, 99, poller.Readable); err != nil {
		t.Fatal(err)
	}
	if err := s.Modify(c, tokC, poller.Readable|poller.Writable); err != nil {
		t.Fatal(err)
	}
	unix.Write(b, []byte("x"))
	unix.Write(d, []byte("x"))

	restore := epoll.SetFaults(nil, func(int, []unix.EpollEvent, int) (int, error) { return 0, unix.EINVAL })
	n, err := s.Wait(make([]poller.Event, 8), -1)
	restore()
	if err != nil || n != 0 {
		t.Fatalf("Wait that fell back: (%d, %v), want (0, nil)", n, err)
	}
	if _, ok := s.Current().(*poll.Backend); !ok {
		t.Fatalf("no fallback: %s", s)
	}
	causes, errs := f.get()
	if len(causes) != 1 || !errors.Is(causes[0], poller.ErrFatal) || !errors.Is(causes[0], unix.EINVAL) || errs[0] != nil {
		t.Fatalf("onFallback told %v, %v; want one ErrFatal/EINVAL cause and no error", causes, errs)
	}
	harvest(t, s, []poller.Token{tokA, tokC})
	// The replayed registrations are the poll backend's own now.
	if err := s.Delete(a); err != nil {
		t.Fatal(err)
	}
	harvest(t, s, []poller.Token{tokC})
}

// TestRegularFileFallsBack adds a regular file: epoll refuses it, the
// backend falls back and then reports it ready.
func TestRegularFileFallsBack(t *testing.T) {
	var f fallbacks
	s := newStandard(t, false, &f)
	defer s.Close()
	a, b := pair(t)
	if err := s.Add(a, 1, poller.Readable); err != nil {
		t.Fatal(err)
	}
	unix.Write(b, []byte("x"))
	fd := regularFile(t)
	if err := s.Add(fd, 2, poller.Readable); err != nil {
		t.Fatalf("Add of a regular file: %v", err)
	}
	causes, _ := f.get()
	if len(causes) != 1 || !errors.Is(causes[0], poller.ErrRefused) || !errors.Is(causes[0], unix.EPERM) {
		t.Fatalf("onFallback told %v, want one ErrRefused/EPERM cause", causes)
	}
	harvest(t, s, []poller.Token{1, 2})
	if s.Caps()&poller.CapRegularFiles == 0 {
		t.Error("no CapRegularFiles")
	}
}

// TestWakeSurvivesFallback: a Wake made before a fallback must still end
// the next wait, which is the new backend's.
func TestWakeSurvivesFallback(t *testing.T) {
	s := newStandard(t, false, nil)
	defer s.Close()
	a, _ := pair(t)
	if err := s.Add(a, 1, poller.Readable); err != nil {
		t.Fatal(err)
	}
	if err := s.Wake(); err != nil {
		t.Fatal(err)
	}
	fd := regularFile(t)
	if err := s.Add(fd, 2, poller.Readable); err != nil { // falls back
		t.Fatal(err)
	}
	// The regular file is always ready: drop it, so that only the
	// wake-up can end the wait.
	if err := s.Delete(fd); err != nil {
		t.Fatal(err)
	}
	returned := make(chan error, 1)
	go func() {
		_, err := s.Wait(make([]poller.Event, 8), -1)
		returned <- err
	}()
	select {
	case err := <-returned:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Error("a Wake made before the fallback was lost")
		s.Wake()
		<-returned
	}
}

// TestModifyNegativeAfterFallback: the registration table is not
// indexed by a negative number.
func TestModifyNegativeAfterFallback(t *testing.T) {
	s := newStandard(t, false, nil)
	defer s.Close()
	if err := s.Add(regularFile(t), 2, poller.Readable); err != nil {
		t.Fatal(err)
	}
	if err := s.Modify(-1, 3, poller.Readable); err == nil {
		t.Fatal("Modify(-1) succeeded")
	}
	if err := s.Delete(-1); err != nil {
		t.Fatal(err)
	}
}

// TestEpollCreateFails: with no epoll the backend starts on poll.
func TestEpollCreateFails(t *testing.T) {
	old := newEpoll
	newEpoll = func(bool) (poller.Backend, error) { return nil, unix.EMFILE }
	defer func() { newEpoll = old }()
	s := newStandard(t, false, nil)
	defer s.Close()
	if _, ok := s.Current().(*poll.Backend); !ok {
		t.Fatalf("not on poll: %s", s)
	}
}
