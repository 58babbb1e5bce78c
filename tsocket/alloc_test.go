package tsocket

import (
	"testing"

	"github.com/gotevent/tevent"
)

// TestAllocsPerMessage pins the hot path: a message written with Writev
// and read with Readv allocates only the two requests, one allocation
// each (the request, with its cancel and cleanup functions in it).
func TestAllocsPerMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count")
	}
	checkFDs(t)
	ev, err := tevent.New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	s := &ev.Scope
	a, b := pair(t, ev)
	out, in := []byte("0123456789abcdef"), make([]byte, 16)
	vin, vout := [][]byte{in}, [][]byte{out}
	perReq := testing.AllocsPerRun(200, func() {
		r := tevent.NewReq[int](s)
		r.SetCancelFn(a.cancelR)
		r.SetCleanupFn(a.cleanR)
		r.Done(0)
		r.Result()
	})
	msg := testing.AllocsPerRun(200, func() {
		w := a.Writev(s, vout...)
		r := b.Readv(s, vin...)
		for r.IsInProgress() || w.IsInProgress() {
			if err := ev.LoopOnce(); err != nil {
				t.Fatal(err)
			}
		}
		w.Result()
		r.Result()
	})
	t.Logf("allocations: %.1f per request made by the core, %.1f per message (a write and a read)", perReq, msg)
	if perReq != 1 {
		t.Errorf("%.1f allocations per request with cancel and cleanup functions, want 1 (the request)", perReq)
	}
	if msg > 2 {
		t.Errorf("%.1f allocations per message, want at most 2 (the two requests)", msg)
	}
}

// TestAllocsConnect pins what connecting costs: a Connect over TCP
// loopback that waits for the kernel (the asynchronous path), with the
// Accept that takes it, allocates at most connectAllocs times.
func TestAllocsConnect(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count")
	}
	checkFDs(t)
	ev, err := tevent.New()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Free()
	s := &ev.Scope
	la, _ := InetAddress("ipv4", "127.0.0.1", 0)
	l, err := Listen(s, la, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Free()
	ra := l.Addr()
	settle := func(reqs ...interface{ IsInProgress() bool }) {
		for _, r := range reqs {
			for turns := 0; r.IsInProgress(); turns++ {
				if turns > 10000 {
					t.Fatal("connect or accept did not finish within 10000 loop turns")
				}
				if err := ev.LoopOnce(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	n := testing.AllocsPerRun(100, func() {
		c := Connect(s, Address{}, ra)
		a := l.Accept(s)
		settle(c, a)
		cs, err := c.Result()
		if err != nil {
			t.Fatal(err)
		}
		as, err := a.Result()
		if err != nil {
			t.Fatal(err)
		}
		cs.Free()
		as.Free()
	})
	t.Logf("allocations: %.1f per Connect and Accept over TCP loopback", n)
	if n > connectAllocs {
		t.Errorf("%.1f allocations per Connect and Accept, want at most %d", n, connectAllocs)
	}
}

// connectAllocs is what TestAllocsConnect allows.
const connectAllocs = 52
