package engine

import (
	"context"
	"sync"
	"time"

	"github.com/kredete/herald"
)

// rateLimits spaces subscriber messages per channel: each takes the next
// free slot, 1/rate apart, and waits for it. While the process is busy
// (Options.Busy) the slots are 1/busyRate apart, when that is slower.
type rateLimits map[herald.Channel]*slotLimiter

type slotLimiter struct {
	mu        sync.Mutex
	every     time.Duration // 0: no cap
	busyEvery time.Duration // 0: not slowed when busy
	next      time.Time
}

func newRateLimits(rates map[herald.Channel]float64, busyRate float64) rateLimits {
	out := rateLimits{}
	for ch, r := range rates {
		l := &slotLimiter{}
		if r > 0 {
			l.every = time.Duration(float64(time.Second) / r)
		}
		if busyRate > 0 && (r <= 0 || busyRate < r) {
			l.busyEvery = time.Duration(float64(time.Second) / busyRate)
		}
		if l.every > 0 || l.busyEvery > 0 {
			out[ch] = l
		}
	}
	return out
}

// wait blocks until the channel's next slot, or ctx ends.
func (r rateLimits) wait(ctx context.Context, ch herald.Channel, busy bool) error {
	l := r[ch]
	if l == nil {
		return nil
	}
	every := l.every
	if busy && l.busyEvery > 0 {
		every = l.busyEvery
	}
	if every == 0 {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	slot := l.next
	if slot.Before(now) {
		slot = now
	}
	l.next = slot.Add(every)
	l.mu.Unlock()
	d := slot.Sub(now)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
