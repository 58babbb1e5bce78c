package main

// The key space of one shard. A shard is owned by one event loop and only
// ever touched from that loop's goroutine, so it needs no locks.
//
// Values are byte slices owned by the shard: SET on a key that exists copies
// the new value into the old one's array when it fits, so a steady stream of
// SETs on the same keys allocates nothing. Lookups go through m[string(b)],
// which Go compiles without allocating the string.
//
// Expiry is Redis's: a key with a deadline is deleted when an access finds
// it expired (lazy), and a periodic sweep (activeExpire) samples keys that
// have a deadline and deletes the expired ones, sampling again at once while
// more than a quarter of a sample had expired, within a time budget.

import (
	"math/rand/v2"
	"strconv"
)

// entry is one key's value. exp is its deadline in nanoseconds on the
// shard's clock, 0 for none; vidx is its index in shard.volatile while it
// has one.
type entry struct {
	key  string
	val  []byte
	exp  int64
	vidx int32
}

// shard is one loop's part of the key space.
type shard struct {
	m        map[string]*entry
	volatile []*entry // the entries with a deadline, for sampling
	rng      *rand.Rand
	expired  uint64 // keys removed because their deadline passed
}

func newShard(seed uint64) *shard {
	return &shard{m: make(map[string]*entry), rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// lookup returns the live entry for key, deleting it if it has expired.
func (s *shard) lookup(key []byte, now int64) *entry {
	e := s.m[string(key)]
	if e != nil && e.exp != 0 && e.exp <= now {
		s.remove(e)
		s.expired++
		return nil
	}
	return e
}

func (s *shard) remove(e *entry) {
	if e.exp != 0 {
		s.clearExp(e)
	}
	delete(s.m, e.key)
}

func (s *shard) setExp(e *entry, exp int64) {
	if exp == 0 {
		s.clearExp(e)
		return
	}
	if e.exp == 0 {
		e.vidx = int32(len(s.volatile))
		s.volatile = append(s.volatile, e)
	}
	e.exp = exp
}

func (s *shard) clearExp(e *entry) {
	if e.exp == 0 {
		return
	}
	last := s.volatile[len(s.volatile)-1]
	s.volatile[e.vidx] = last
	last.vidx = e.vidx
	s.volatile[len(s.volatile)-1] = nil
	s.volatile = s.volatile[:len(s.volatile)-1]
	e.exp = 0
}

// get returns key's value, nil and false if there is none. The slice is
// the shard's: copy it before the shard runs again.
func (s *shard) get(key []byte, now int64) ([]byte, bool) {
	e := s.lookup(key, now)
	if e == nil {
		return nil, false
	}
	return e.val, true
}

// Conditions and TTL handling for set.
const (
	setNX      = 1 << iota // only if the key does not exist
	setXX                  // only if it does
	setKeepTTL             // keep the key's deadline
)

// set stores val under key with deadline exp (0: none) and reports whether
// it did (NX and XX can refuse).
func (s *shard) set(key, val []byte, exp int64, flags int, now int64) bool {
	e := s.lookup(key, now)
	if e == nil {
		if flags&setXX != 0 {
			return false
		}
		e = &entry{key: string(key), val: append([]byte(nil), val...)}
		s.m[e.key] = e
	} else {
		if flags&setNX != 0 {
			return false
		}
		e.val = assign(e.val, val)
	}
	if flags&setKeepTTL == 0 {
		s.setExp(e, exp)
	}
	return true
}

// assign copies v into old's array if it fits and is not wastefully large.
func assign(old, v []byte) []byte {
	if cap(old) >= len(v) && cap(old) <= 2*len(v)+64 {
		return append(old[:0], v...)
	}
	return append([]byte(nil), v...)
}

// del removes key and reports whether it existed.
func (s *shard) del(key []byte, now int64) bool {
	e := s.lookup(key, now)
	if e == nil {
		return false
	}
	s.remove(e)
	return true
}

func (s *shard) exists(key []byte, now int64) bool { return s.lookup(key, now) != nil }

// Errors of incr, as Redis words them.
const (
	errNotInt   = "ERR value is not an integer or out of range"
	errOverflow = "ERR increment or decrement would overflow"
)

// incr adds by to key's integer value (a missing key counts as 0) and
// returns the result, or an error message.
func (s *shard) incr(key []byte, by int64, now int64) (int64, string) {
	e := s.lookup(key, now)
	var v int64
	if e != nil {
		var ok bool
		if v, ok = parseInt(e.val); !ok {
			return 0, errNotInt
		}
	}
	if (by > 0 && v > 1<<63-1-by) || (by < 0 && v < -1<<63-by) {
		return 0, errOverflow
	}
	v += by
	if e == nil {
		e = &entry{key: string(key), val: make([]byte, 0, 20)}
		s.m[e.key] = e
	}
	e.val = strconv.AppendInt(e.val[:0], v, 10)
	return v, ""
}

// expire sets key's deadline to exp and reports whether the key exists. A
// deadline already past deletes the key, as Redis does.
func (s *shard) expire(key []byte, exp int64, now int64) bool {
	e := s.lookup(key, now)
	if e == nil {
		return false
	}
	if exp <= now {
		s.remove(e)
		return true
	}
	s.setExp(e, exp)
	return true
}

// pttl returns the time left on key in nanoseconds, -1 for a key without a
// deadline and -2 for no key, as TTL and PTTL report them.
func (s *shard) pttl(key []byte, now int64) int64 {
	e := s.lookup(key, now)
	switch {
	case e == nil:
		return -2
	case e.exp == 0:
		return -1
	}
	return e.exp - now
}

// Active expiry parameters (Redis: ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP and
// the 25% rule).
const (
	sweepSample = 20
	sweepBudget = 1_000_000 // ns of work per sweep at most
)

// sweep deletes expired keys found by sampling, as Redis's activeExpire
// cycle does, and returns how many it deleted. clock is read to keep
// within the budget.
func (s *shard) sweep(now int64, clock func() int64) int {
	deleted := 0
	start := now
	for rounds := 0; len(s.volatile) > 0; rounds++ {
		n := min(sweepSample, len(s.volatile))
		hit := 0
		for range n {
			if len(s.volatile) == 0 {
				break
			}
			e := s.volatile[s.rng.IntN(len(s.volatile))]
			if e.exp <= now {
				s.remove(e)
				s.expired++
				hit++
			}
		}
		deleted += hit
		if hit*4 <= n {
			break
		}
		if rounds%16 == 15 && clock()-start > sweepBudget {
			break
		}
	}
	return deleted
}

func (s *shard) size() int { return len(s.m) }

// flush removes every key.
func (s *shard) flush() {
	clear(s.m)
	clear(s.volatile)
	s.volatile = s.volatile[:0]
}
