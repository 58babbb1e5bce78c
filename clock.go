package tevent

import "time"

// clockBase anchors the monotonic clock: deadlines are kept as nanoseconds
// since it, which compare and store more cheaply than time.Time.
var clockBase = time.Now()

func monoNow() int64 { return int64(time.Since(clockBase)) }

func toMono(t time.Time) int64 { return int64(t.Sub(clockBase)) }

func fromMono(ns int64) time.Time { return clockBase.Add(time.Duration(ns)) }
