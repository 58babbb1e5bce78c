package tsocket

import (
	"context"

	"github.com/gotevent/tevent"
)

// WithContext ties req to ctx: when ctx is done before req finished, req
// is cancelled on its loop (Cancel, which finishes it with
// tevent.ErrCancelled), or, when it can no longer be cancelled (a read
// or write that has moved bytes), finished with ctx's cause, as a timeout
// would (a stream then breaks: ErrBroken). It returns req. Call it on the
// goroutine that drives req's loop, after the request was made; it costs
// a thread proxy and a context.AfterFunc registration, both released when
// req is received or freed.
func WithContext[T any](req *tevent.Req[T], ctx context.Context) *tevent.Req[T] {
	if !req.IsInProgress() || ctx.Done() == nil {
		return req
	}
	ev := req.Scope().Context()
	tp, err := ev.NewThreadProxy()
	if err != nil {
		req.Error(err)
		return req
	}
	stop := context.AfterFunc(ctx, func() {
		tp.Schedule(func(*tevent.Context) {
			if req.IsInProgress() && !req.Cancel() && req.IsInProgress() {
				req.Error(context.Cause(ctx))
			}
		})
	})
	req.Scope().OnFree(func() {
		stop()
		tp.Free()
	})
	return req
}
