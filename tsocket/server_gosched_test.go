package tsocket

import "runtime"

func runtimeGosched() { runtime.Gosched() }
