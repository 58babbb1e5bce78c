package tevent

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzLoop decodes its input into a sequence of operations on one context
// (add and free fd, timer and immediate events, scopes and wrappers; change
// flags, update timers, schedule and cancel immediates; write to, drain,
// shut down and close the fds; run LoopOnce, LoopUntil, LoopOnce through a
// wrapper, or LoopOnce blocked until another goroutine writes; handlers
// free, add, change and reschedule things too) and checks every step
// against the reference model in model_test.go: which handler runs, with
// which flags, in which order, what freeing runs, and that nothing the
// model calls ready is left waiting. Each input runs on every backend, and
// must leave no descriptor open.
//
// Input format: the first byte selects options (see fzOptions); then each
// operation is an opcode byte followed by a fixed number of argument bytes
// (see fzOpTable and fzOpArgs). Missing bytes read as zero; at most
// fzMaxOps operations are run. TEVENT_FUZZ_TRACE=1 logs every step.
//
// Signals are not part of it: their arrival is asynchronous, and
// signal_test.go covers them.
func FuzzLoop(f *testing.F) {
	for _, s := range fzSeeds() {
		if s.inline {
			f.Add(s.data)
		}
	}
	fzShortMinimize()
	f.Fuzz(func(t *testing.T, data []byte) {
		opt, ops := fzDecode(data)
		before := openFDCount(t)
		for _, b := range Backends() {
			fzRun(t, b, opt, ops)
		}
		if after := openFDCount(t); before >= 0 && after != before {
			// Find the backend that leaked, for the report.
			for _, b := range Backends() {
				n := openFDCount(t)
				fzRun(t, b, opt, ops)
				if m := openFDCount(t); m != n {
					t.Fatalf("backend %s %+v: descriptor leak: %d open before, %d after", b, opt, n, m)
				}
			}
			// No backend leaks on its own: something else in the process
			// (a finalizer, another test's goroutine) opened or closed
			// a descriptor meanwhile.
			t.Logf("descriptor count moved from %d to %d, but no backend leaks when run alone", before, after)
		}
	})
}

// fzShortMinimize makes the fuzzer spend at most fzMinimizeTime, instead of
// the default minute, minimizing each new input, unless -fuzzminimizetime
// was given. Minimizing runs an input up to n² times for n bytes, and one
// run costs about a millisecond (sockets and contexts on four backends):
// with the default, both workers of a short CI run spend most of it
// minimizing rather than trying new inputs.
func fzShortMinimize() {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.fuzzminimizetime" })
	if !given {
		flag.Set("test.fuzzminimizetime", fzMinimizeTime.String())
	}
}

const (
	fzMinimizeTime = 5 * time.Second
	fzPairs        = 3
	fzScopes       = 4 // slot 0 is the context itself
	fzFDs          = 6
	fzTimers       = 6
	fzImms         = 4
	fzMaxOps       = 200
	fzMaxDups      = 4
	fzGuardFor     = 5 * time.Second // a LoopOnce the model says cannot block
)

// TestFuzzLoopWriteCorpus regenerates testdata/fuzz/FuzzLoop/seed-* from
// fzSeeds when TEVENT_WRITE_FUZZ_CORPUS is set.
func TestFuzzLoopWriteCorpus(t *testing.T) {
	if os.Getenv("TEVENT_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set TEVENT_WRITE_FUZZ_CORPUS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzLoop")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range fzSeeds() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.data)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+s.name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
