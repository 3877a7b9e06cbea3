package engine

import (
	"context"
	"sync/atomic"
	"time"
)

// Pressure tells whether the status page is flooded, from the number of
// public requests this process served: above a rate, the engine sends
// subscriber messages slower (Options.Busy, Options.BusyRate) and the page
// keeps the processor, exactly when everyone reloads it. The plan's own
// messages are never slowed.
//
// A page request costs tens of microseconds and a subscriber message a
// few milliseconds, so below a few thousand requests a second the two fit
// side by side; above, on a small machine, each message is taken from the
// page's share. (Go's scheduler latency was tried as the signal and
// refused: the fan-out's own database work raises it as much as a flood.)
type Pressure struct {
	served    func() uint64 // requests served so far
	threshold float64       // requests a second
	hold      time.Duration
	busy      atomic.Bool
	rate      atomic.Uint64 // the last second's requests
}

// DefaultBusyRequests is the public requests a second above which the page
// counts as flooded.
const DefaultBusyRequests = 2000

// NewPressure counts the requests served (a counter that only grows):
// busy above threshold a second (DefaultBusyRequests when 0), and again not
// busy once the rate stayed under half of it for hold (10 s when 0), so
// that a flood with gaps does not let the fan-out back in between.
func NewPressure(served func() uint64, threshold float64, hold time.Duration) *Pressure {
	if threshold <= 0 {
		threshold = DefaultBusyRequests
	}
	if hold <= 0 {
		hold = 10 * time.Second
	}
	return &Pressure{served: served, threshold: threshold, hold: hold}
}

// Busy reports whether the page is flooded.
func (p *Pressure) Busy() bool { return p.busy.Load() }

// Rate is the requests served in the last second sampled.
func (p *Pressure) Rate() uint64 { return p.rate.Load() }

// Run samples every second until ctx ends.
func (p *Pressure) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last, at := p.served(), time.Now()
	var calm time.Time // when the rate fell under half the threshold; zero: it has not
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n := p.served()
			calm = p.observe(float64(n-last)/now.Sub(at).Seconds(), now, calm)
			last, at = n, now
		}
	}
}

// observe takes one second's rate and returns when the calm began.
func (p *Pressure) observe(rate float64, now, calm time.Time) time.Time {
	p.rate.Store(uint64(rate))
	switch {
	case rate > p.threshold:
		p.busy.Store(true)
		return time.Time{}
	case rate >= p.threshold/2:
		return time.Time{}
	case calm.IsZero():
		calm = now
	}
	if now.Sub(calm) >= p.hold {
		p.busy.Store(false)
	}
	return calm
}
