package tevent_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gotevent/tevent"
)

// squareSend is an async function in tevent's send/receive style. Its
// request waits until delay has passed (a Wakeup sub-request), then
// squares x on the goroutine pool (a Go sub-request), all under an end
// time. The sub-requests live in req.Scope(), so they go away when the
// caller receives or frees req, however it ended.
func squareSend(s *tevent.Scope, x int, delay, timeout time.Duration) *tevent.Req[int] {
	req := tevent.NewReq[int](s)
	if x < 0 {
		// Finished before returning: Post delivers it on a later turn.
		req.Error(errors.New("negative input"))
		return req.Post(s.Context())
	}
	req.SetEndtime(s.Context(), time.Now().Add(timeout))

	wake := tevent.Wakeup(req.Scope(), time.Now().Add(delay))
	wake.SetCallback(func(wake *tevent.Req[struct{}]) {
		if _, err := wake.Result(); req.Error(err) {
			return
		}
		sq := tevent.Go(req.Scope(), func(ctx context.Context) (int, error) {
			return x * x, nil // blocking work would go here
		})
		sq.SetCallback(func(sq *tevent.Req[int]) {
			v, err := sq.Result()
			if req.Error(err) {
				return
			}
			req.Done(v)
		})
	})
	return req
}

// ExampleReq composes requests: a request whose steps are a Wakeup and a
// Go sub-request, with an end time.
func ExampleReq() {
	ev, err := tevent.New()
	if err != nil {
		panic(err)
	}
	defer ev.Free()

	for _, c := range []struct {
		x              int
		delay, timeout time.Duration
	}{
		{7, time.Millisecond, time.Minute},
		{-1, time.Millisecond, time.Minute},
		{3, time.Hour, 10 * time.Millisecond},
	} {
		req := squareSend(&ev.Scope, c.x, c.delay, c.timeout)
		req.SetCallback(func(req *tevent.Req[int]) {
			v, err := req.Result()
			fmt.Printf("square(%d) = %d, error: %v\n", c.x, v, err)
		})
		if err := req.Poll(ev); err != nil {
			panic(err)
		}
		// The callback may still be due on a later turn (Post).
		if err := ev.LoopWait(); err != nil {
			panic(err)
		}
	}
	// Output:
	// square(7) = 49, error: <nil>
	// square(-1) = 0, error: negative input
	// square(3) = 0, error: tevent: request timed out
}
