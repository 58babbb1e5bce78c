//go:build unix

package pollertest_test

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"sync/atomic"
	"testing"

	"github.com/gotevent/tevent/internal/poller"
	"github.com/gotevent/tevent/internal/poller/poll"
	"github.com/gotevent/tevent/internal/poller/pollertest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// passThrough is a correct backend: poll, behind the wrapper the broken
// ones start from.
type passThrough struct{ poller.Backend }

// dropWake ignores every other Wake.
type dropWake struct {
	poller.Backend
	n atomic.Int64
}

func (b *dropWake) Wake() error {
	if b.n.Add(1)%2 == 0 {
		return nil
	}
	return b.Backend.Wake()
}

// staleToken keeps the first token it was given for a number, through
// Modify, Delete and re-registration.
type staleToken struct {
	poller.Backend
	first map[int]poller.Token
}

func (b *staleToken) tok(fd int, tok poller.Token) poller.Token {
	if t, ok := b.first[fd]; ok {
		return t
	}
	b.first[fd] = tok
	return tok
}

func (b *staleToken) Add(fd int, tok poller.Token, in poller.Interest) error {
	return b.Backend.Add(fd, b.tok(fd, tok), in)
}

func (b *staleToken) Modify(fd int, tok poller.Token, in poller.Interest) error {
	return b.Backend.Modify(fd, b.tok(fd, tok), in)
}

// noRotate harvests everything and reports the same first ready
// registrations (least tokens) whenever they do not all fit.
type noRotate struct{ poller.Backend }

func (b *noRotate) Wait(evs []poller.Event, ms int) (int, error) {
	all := make([]poller.Event, 256)
	n, err := b.Backend.Wait(all, ms)
	all = all[:n]
	sort.Slice(all, func(i, j int) bool { return all[i].Token < all[j].Token })
	return copy(evs, all), err
}

// twice reports the first registration of a harvest a second time when
// there is room.
type twice struct{ poller.Backend }

func (b *twice) Wait(evs []poller.Event, ms int) (int, error) {
	n, err := b.Backend.Wait(evs, ms)
	if n > 0 && n < len(evs) {
		evs[n] = evs[0]
		n++
	}
	return n, err
}

// edge reports a registration once, then not again until Add or Modify
// re-arms it: edge triggered.
type edge struct {
	poller.Backend
	fired map[poller.Token]bool
}

func (b *edge) Add(fd int, tok poller.Token, in poller.Interest) error {
	delete(b.fired, tok)
	return b.Backend.Add(fd, tok, in)
}

func (b *edge) Modify(fd int, tok poller.Token, in poller.Interest) error {
	delete(b.fired, tok)
	return b.Backend.Modify(fd, tok, in)
}

func (b *edge) Wait(evs []poller.Event, ms int) (int, error) {
	n, err := b.Backend.Wait(evs, ms)
	out := 0
	for _, ev := range evs[:n] {
		if !b.fired[ev.Token] {
			b.fired[ev.Token] = true
			evs[out] = ev
			out++
		}
	}
	return out, err
}

// noTimeout never blocks for a positive timeout.
type noTimeout struct{ poller.Backend }

func (b *noTimeout) Wait(evs []poller.Event, ms int) (int, error) {
	return b.Backend.Wait(evs, min(ms, 0)|ms>>31)
}

var broken = map[string]struct {
	wrap func(poller.Backend) poller.Backend
	// must lists subtests that must fail (others may fail too).
	must []string
}{
	"passThrough": {func(b poller.Backend) poller.Backend { return passThrough{b} }, nil},
	"dropWake":    {func(b poller.Backend) poller.Backend { return &dropWake{Backend: b} }, []string{"WakeFromGoroutines"}},
	"staleToken": {func(b poller.Backend) poller.Backend {
		return &staleToken{Backend: b, first: map[int]poller.Token{}}
	}, []string{"ModifyToken", "ModifyTokenWhileReady", "ReuseNumberAfterClose"}},
	"noRotate": {func(b poller.Backend) poller.Backend { return &noRotate{b} }, []string{"FullBufferRotates", "FullBufferPartial"}},
	"twice":    {func(b poller.Backend) poller.Backend { return &twice{b} }, []string{"OncePerHarvest"}},
	"edge": {func(b poller.Backend) poller.Backend {
		return &edge{Backend: b, fired: map[poller.Token]bool{}}
	}, []string{"LevelTriggered"}},
	"noTimeout": {func(b poller.Backend) poller.Backend { return &noTimeout{b} }, []string{"TimeoutShort"}},
}

// TestBrokenHelper runs the suite on the broken backend named by
// POLLERTEST_BROKEN, in a subprocess started by TestBroken.
func TestBrokenHelper(t *testing.T) {
	name := os.Getenv("POLLERTEST_BROKEN")
	if name == "" {
		t.Skip("run by TestBroken")
	}
	wrap := broken[name].wrap
	pollertest.Run(t, func(t *testing.T) poller.Backend {
		b, err := poll.New(false)
		if err != nil {
			t.Fatal(err)
		}
		return wrap(b)
	})
}

var failLine = regexp.MustCompile(`(?m)^\s*--- FAIL: TestBrokenHelper/(\S+)`)

// TestBroken proves that the suite bites: each deliberately broken
// backend fails it, in the subtests that check what it breaks; the
// correct wrapper passes.
func TestBroken(t *testing.T) {
	if os.Getenv("POLLERTEST_BROKEN") != "" {
		t.Skip("in the helper")
	}
	if testing.Short() {
		t.Skip("runs the suite once per broken backend")
	}
	names := make([]string, 0, len(broken))
	for name := range broken {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenHelper$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "POLLERTEST_BROKEN="+name, "POLLERTEST_LIVENESS=1s")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			var failed []string
			for _, m := range failLine.FindAllStringSubmatch(out.String(), -1) {
				failed = append(failed, m[1])
			}
			t.Logf("%s fails: %v", name, failed)
			must := broken[name].must
			if must == nil {
				if err != nil {
					t.Fatalf("a correct backend failed the suite: %v\n%s", err, out.String())
				}
				return
			}
			if err == nil {
				t.Fatalf("the suite passed a broken backend\n%s", out.String())
			}
			for _, sub := range must {
				if !slices.Contains(failed, sub) {
					t.Errorf("subtest %s did not catch it\n%s", sub, out.String())
				}
			}
		})
	}
}
