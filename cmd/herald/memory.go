package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"time"
)

// Returning memory while the page is quiet. Herald runs with a lax GC
// (GOGC 200, see serve): under load that saves CPU, but idle it lets the
// garbage of the snapshot's rebuilds (one a minute) and of the database
// polls (every 2 s) grow the heap for minutes before a collection:
// measured with the benchmark's data (and GOGC 400, the earlier setting),
// an idle Herald went from 30 to 40 MiB resident in two and a half minutes;
// with this, it stayed between 30 and 32 MiB. Once a minute, when fewer
// than quietRequests were answered since the last look, the garbage is
// collected and returned to the operating system (one full collection: a
// few milliseconds for Herald's heap). Under load nothing changes.
const (
	idleMemoryEvery = time.Minute
	quietRequests   = 600 // 10 a second: a page that few read is idle
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
