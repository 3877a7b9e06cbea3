package main

import (
	"sync/atomic"
	"testing"
	"time"
)

// An idle page gets its memory returned at every look; a busy one never.
func TestReturnIdleMemory(t *testing.T) {
	var served atomic.Uint64
	var busy atomic.Bool
	freed := make(chan uint64, 1000)
	count := func() uint64 {
		if busy.Load() {
			served.Add(1000) // 1,000 requests between two looks
		}
		return served.Load()
	}
	// free records how many requests had been served when it ran: the
	// looks and the frees are one goroutine, so that is the look's count.
	go returnIdleMemory(t.Context(), count, 2*time.Millisecond, 600, func() { freed <- served.Load() })

	select {
	case <-freed:
	case <-time.After(10 * time.Second):
		t.Fatal("an idle page's memory was not returned")
	}

	busyFrom := served.Load() // 0: nothing is counted while idle
	busy.Store(true)
	waitUntil(t, "six busy looks", func() bool { return served.Load() >= busyFrom+6000 })
	busy.Store(false)
	quietFrom := served.Load()
	for done := false; !done; {
		select {
		case v := <-freed:
			// A look in progress when busy was cleared may add its 1,000
			// after quietFrom was read: counts from quietFrom on may be
			// either; every one below it is a busy look's.
			if v >= busyFrom+1000 && v < quietFrom {
				t.Errorf("memory returned at a look that saw 1,000 more requests (count %d)", v)
			}
			if v >= quietFrom {
				done = true // a quiet look again: returned
			}
		case <-time.After(10 * time.Second):
			t.Fatal("memory was not returned once the page went quiet again")
		}
	}
}

// waitUntil polls cond until it holds, for at most 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
