package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"time"
)

// Returning memory while the page is quiet. Herald runs with a lax GC
// (GOGC 200, see serve): under load that saves CPU, but idle it lets the
// garbage of the snapshot's rebuilds (one a minute), of the database polls
// (every 2 s) and of the cadence engine's passes grow the heap for minutes
// before a collection: measured with the benchmark's data (and GOGC 400,
// the earlier setting), an idle Herald went from 30 to 40 MiB resident in
// two and a half minutes. Every 15 s, when fewer than quietRequests were
// answered since the last look, the garbage is collected and returned to
// the operating system (one full collection: a few milliseconds for
// Herald's heap, a fraction of a per mille of a core at this pace). With a
// look once a minute, the engine's start-up passes and each minute's
// rebuild kept an idle Herald with the engine on at 34-36 MiB for most of
// the minute, 30-31 MiB after. Under load nothing changes.
const (
	idleMemoryEvery = 15 * time.Second
	quietRequests   = 150 // 10 a second: a page that few read is idle
)

// returnIdleMemory runs free (debug.FreeOSMemory in production) every
// interval in which served() grew by less than quiet, until ctx ends.
func returnIdleMemory(ctx context.Context, served func() uint64, every time.Duration, quiet uint64, free func()) {
	if free == nil {
		free = freeMemory
	}
	t := time.NewTicker(every)
	defer t.Stop()
	last := served()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := served()
		if n-last < quiet {
			free()
		}
		last = n
	}
}

// freeMemory collects the garbage and returns the free memory to the
// operating system. Two collections: the first moves what sync.Pools hold
// (the snapshot's gzip writers, over a megabyte each) to their victim
// caches, and the second (FreeOSMemory's) drops them, if nothing took them
// back in between.
func freeMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}
