package engine

import (
	"context"
	"sync"
	"time"

	"github.com/kredete/herald"
)

// rateLimits spaces subscriber messages per channel: each takes the next
// free slot, 1/rate apart, and waits for it.
type rateLimits map[herald.Channel]*slotLimiter

type slotLimiter struct {
	mu    sync.Mutex
	every time.Duration
	next  time.Time
}

func newRateLimits(rates map[herald.Channel]float64) rateLimits {
	out := rateLimits{}
	for ch, r := range rates {
		if r > 0 {
			out[ch] = &slotLimiter{every: time.Duration(float64(time.Second) / r)}
		}
	}
	return out
}

// wait blocks until the channel's next slot, or ctx ends.
func (r rateLimits) wait(ctx context.Context, ch herald.Channel) error {
	l := r[ch]
	if l == nil {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	slot := l.next
	if slot.Before(now) {
		slot = now
	}
	l.next = slot.Add(l.every)
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
