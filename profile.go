package tevent

import (
	"fmt"
	"strings"
	"time"
)

// ReqProfile is the profile of a request (tevent_req_profile): its name,
// when it started and stopped, how it ended, and the profiles of the
// sub-requests created on its scope, in the order they were created.
// Profiling is opt-in per request (EnableProfile); sub-requests of a
// profiled request are profiled too. A profile stays valid after its
// request is received or freed.
type ReqProfile struct {
	Name  string
	Start time.Time
	Stop  time.Time // zero while the request has not finished
	State ReqState  // ReqInProgress until it finishes
	Err   error     // the error it finished with, if any
	Subs  []*ReqProfile
}

// EnableProfile starts profiling the request under name (empty: the
// request's type) and returns its profile (tevent_req_set_profile). The
// start time is now; sub-requests created on r.Scope() from now on are
// profiled too and appear in Subs. Calling it again renames the profile.
func (r *Req[T]) EnableProfile(name string) *ReqProfile {
	if name == "" {
		name = fmt.Sprintf("%T", r)
	}
	x := r.extra()
	if x.profile == nil {
		x.profile = &ReqProfile{Name: name, Start: time.Now(), State: ReqState(r.state)}
		if r.state.finished() {
			x.profile.stop(ReqState(r.state), x.err)
		}
	}
	x.profile.Name = name
	return x.profile
}

// Profile returns the request's profile, or nil if it is not profiled
// (tevent_req_get_profile).
func (r *Req[T]) Profile() *ReqProfile {
	if x := r.ext(); x != nil {
		return x.profile
	}
	return nil
}

func (p *ReqProfile) newSub(r AnyReq) *ReqProfile {
	sub := &ReqProfile{Name: fmt.Sprintf("%T", r), Start: time.Now(), State: ReqInProgress}
	p.Subs = append(p.Subs, sub)
	return sub
}

func (p *ReqProfile) stop(state ReqState, err error) {
	if !p.Stop.IsZero() {
		return
	}
	p.Stop = time.Now()
	p.State = state
	p.Err = err
}

// Duration is Stop-Start, or zero while the request runs.
func (p *ReqProfile) Duration() time.Duration {
	if p.Stop.IsZero() {
		return 0
	}
	return p.Stop.Sub(p.Start)
}

// String prints the profile tree, one request per line, sub-requests
// indented under their parent (tevent_print_profile).
func (p *ReqProfile) String() string {
	var b strings.Builder
	p.write(&b, 0)
	return b.String()
}

func (p *ReqProfile) write(b *strings.Builder, depth int) {
	fmt.Fprintf(b, "%s%s state=%s start=%s", strings.Repeat("  ", depth), p.Name, p.State, p.Start.Format(time.RFC3339Nano))
	if !p.Stop.IsZero() {
		fmt.Fprintf(b, " duration=%s", p.Duration())
	}
	if p.Err != nil {
		fmt.Fprintf(b, " error=%q", p.Err.Error())
	}
	b.WriteByte('\n')
	for _, s := range p.Subs {
		s.write(b, depth+1)
	}
}
