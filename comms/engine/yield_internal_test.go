package engine

import (
	"context"
	"testing"
	"time"

	"github.com/kredete/herald"
)

// TestPressure: busy above the threshold; still busy while the rate is
// between half of it and it, and during the hold after it fell under half;
// not busy once the calm lasted the hold; a burst in the calm starts it
// again.
func TestPressure(t *testing.T) {
	p := NewPressure(func() uint64 { return 0 }, 1000, 3*time.Second)
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	var calm time.Time
	steps := []struct {
		rate float64
		busy bool
	}{
		{100, false}, {1000, false}, {1001, true}, {700, true}, {400, true}, {300, true}, {200, true},
		{100, false}, {5000, true}, {100, true}, {600, true}, {100, true}, {100, true}, {100, true}, {0, false},
	}
	for i, s := range steps {
		calm = p.observe(s.rate, t0.Add(time.Duration(i)*time.Second), calm)
		if p.Busy() != s.busy {
			t.Fatalf("second %d at %.0f requests a second: busy %v; want %v", i, s.rate, p.Busy(), s.busy)
		}
	}
	if p.Rate() != 0 {
		t.Errorf("Rate = %d; want the last second's 0", p.Rate())
	}
}

// TestBusyRate: a busy process takes the busy rate's slots when it is
// slower than the channel's rate, and its own otherwise; an uncapped
// channel is capped while busy.
func TestBusyRate(t *testing.T) {
	r := newRateLimits(map[herald.Channel]float64{herald.ChannelEmail: 50, herald.ChannelSMS: 2, herald.ChannelWebhook: 0}, 5)
	if got := r[herald.ChannelEmail].busyEvery; got != 200*time.Millisecond {
		t.Errorf("email busy spacing %s; want 200ms", got)
	}
	if got := r[herald.ChannelSMS].busyEvery; got != 0 {
		t.Errorf("sms (2/s, slower than busy) busy spacing %s; want none", got)
	}
	if l := r[herald.ChannelWebhook]; l == nil || l.every != 0 || l.busyEvery != 200*time.Millisecond {
		t.Errorf("uncapped webhook limiter %+v; want capped only while busy", l)
	}
	// The slot a message takes: the next is 1/rate later, or 1/busy rate
	// while busy; an uncapped channel does not wait when not busy.
	ctx := context.Background()
	for _, c := range []struct {
		busy bool
		want time.Duration
	}{{false, 20 * time.Millisecond}, {true, 200 * time.Millisecond}} {
		l := r[herald.ChannelEmail]
		l.next = time.Time{}
		before := time.Now()
		if err := r.wait(ctx, herald.ChannelEmail, c.busy); err != nil {
			t.Fatal(err)
		}
		if gap := l.next.Sub(before); gap < c.want || gap > c.want+time.Second {
			t.Errorf("busy %v: the next slot %s after; want %s", c.busy, gap, c.want)
		}
	}
	if err := r.wait(ctx, herald.ChannelWebhook, false); err != nil || !r[herald.ChannelWebhook].next.IsZero() {
		t.Errorf("uncapped and not busy: took a slot (%v, %v)", r[herald.ChannelWebhook].next, err)
	}
}
