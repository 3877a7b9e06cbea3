package main

// The DR day's crash and its aftermath: the kill, the restart, waiting for
// every delivery to settle, and what fell due while the replica was down.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kredete/herald"
)

// kill arms a hold at Slack, posts a message to the engineering thread
// and kills, with SIGKILL, the replica that posts its reply, while Slack
// holds the answer: the message is at Slack, the replica has not recorded
// it (the hard case: a running replica must find it there, not post it
// again). What else was pending at that moment is noted for the report.
func (d *drday) kill() {
	t := d.t
	h := newHolds()
	d.mu.Lock()
	d.holds = h
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.holds = nil
		d.mu.Unlock()
		h.release()
	}()
	d.engineering("Backlog drained; p99 latency 420 ms against 300 ms normally (cold caches).")
	select {
	case <-h.victimChosen:
	case <-time.After(10 * time.Second):
		t.Fatal("no thread reply reached Slack within 10 s of the message at plan minute 120")
	}
	victim := h.victim()
	_, n := d.busiest()
	in, told, reports := d.history()
	ds, err := d.st.Deliveries(context.Background(), d.inc, 100000)
	if err != nil {
		t.Fatal(err)
	}
	d.crash = drCrash{victim: victim, pid: d.procs[victim].pid, inflight: n, held: h.snapshot()["slack"],
		upcoming: d.upcoming(in, told, reports, time.Now())}
	for _, dl := range ds {
		if !dl.State.Final() {
			d.crash.notFinal = append(d.crash.notFinal, dl)
		}
	}
	d.mu.Lock()
	d.down[victim] = true
	d.mu.Unlock()
	d.crash.killedAt = time.Now()
	d.cluster.kill(victim)
	t.Logf("plan minute %.1f: killed replica %d (pid %d) while Slack held the answer to its thread reply %s (%d vendor "+
		"request(s) in flight in all); %d of the incident's deliveries not final; next steps of the plan: %s",
		d.minuteOf(d.crash.killedAt), victim, d.crash.pid, d.crash.held, n, len(d.crash.notFinal), strings.Join(d.crash.upcoming, "; "))
}

// restart starts the killed replica again and waits until it is ready.
func (d *drday) restart() {
	v := d.crash.victim
	d.start(v)
	d.waitReady(v)
	d.crash.readyAt = time.Now()
	d.mu.Lock()
	d.down[v] = false
	d.mu.Unlock()
	d.t.Logf("plan minute %.1f: replica %d restarted and ready, %.1f plan minutes (%s) after the kill", d.minuteOf(d.crash.readyAt),
		v, d.planMinutes(d.crash.readyAt.Sub(d.crash.killedAt)), d.crash.readyAt.Sub(d.crash.killedAt).Round(time.Millisecond))
}

// history reads the incident, what was told and the regulator calls.
func (d *drday) history() (herald.Incident, []herald.Communication, []herald.RegulatorReport) {
	ctx := context.Background()
	in, err := d.st.Incident(ctx, d.inc)
	if err != nil {
		d.t.Fatal(err)
	}
	told, err := d.st.Communications(ctx, []string{d.inc})
	if err != nil {
		d.t.Fatal(err)
	}
	reports, err := d.st.RegulatorReports(ctx, []string{d.inc})
	if err != nil {
		d.t.Fatal(err)
	}
	return in, told, reports
}

// upcoming lists the plan's steps due in the next 30 plan minutes.
func (d *drday) upcoming(in herald.Incident, told []herald.Communication, reports []herald.RegulatorReport, now time.Time) []string {
	var out []string
	for _, ob := range herald.Obligations(d.plan, in, told, reports) {
		a, _ := d.plan.AudienceByKey(ob.Audience)
		for _, r := range a.Reminders(ob, now.Add(30*d.minute)) {
			if r.At.After(now) && r.At.Before(now.Add(30*d.minute)) {
				out = append(out, fmt.Sprintf("%s %s at %.0f", a.Key, r.Kind, d.minuteOf(r.At)))
			}
		}
	}
	return out
}

// settle waits until every delivery of the incident is final and no new
// one has appeared for a while (a wake that began before the resolution
// may still queue a step; a delivery the victim held is retried after the
// queue's rescue).
func (d *drday) settle(resolvedAt time.Time) []herald.Delivery {
	var ds []herald.Delivery
	last, changed := -1, time.Now()
	eventually(d.t, 120*time.Second, "every delivery final and none new for 2 s", func() (bool, string) {
		var err error
		if ds, err = d.st.Deliveries(context.Background(), d.inc, 100000); err != nil {
			return false, err.Error()
		}
		if len(ds) != last {
			last, changed = len(ds), time.Now()
		}
		var open []string
		for _, dl := range ds {
			if !dl.State.Final() {
				open = append(open, fmt.Sprintf("%s %s → %s (%s, %d attempts)", dl.Kind, dl.Channel, dl.Recipient, dl.State, dl.Attempts))
			}
		}
		quiet := time.Since(changed) > 2*time.Second && time.Since(resolvedAt) > 4*time.Second
		return len(open) == 0 && quiet, fmt.Sprintf("%d deliveries, not final: %v", len(ds), open)
	})
	d.t.Logf("%d deliveries final %s after the resolution", len(ds), time.Since(resolvedAt).Round(100*time.Millisecond))
	return ds
}

// reminderAt is when the plan scheduled a reminder delivery: its step's
// kind and number end its key, before the channel and the recipient
// (…/audience/step/due/kind/n/channel/to). A failover action's late-step
// report (…/action/id/stage/channel/to) is not a plan step: false.
func (d *drday) reminderAt(dl herald.Delivery) (time.Time, herald.ReminderKind, bool) {
	parts := strings.Split(dl.Key, "/")
	if len(parts) < 8 || dl.DueAt == nil {
		return time.Time{}, "", false
	}
	a, ok := d.plan.AudienceByKey(dl.Audience)
	if !ok {
		return time.Time{}, "", false
	}
	kind := herald.ReminderKind(parts[len(parts)-4])
	n, err := strconv.Atoi(parts[len(parts)-3])
	if err != nil {
		return time.Time{}, "", false
	}
	p := a.ReminderPolicy
	switch kind {
	case herald.RemindBefore:
		if n < len(p.Before) {
			return dl.DueAt.Add(-p.Before[n]), kind, true
		}
	case herald.RemindDue:
		return *dl.DueAt, kind, true
	case herald.RemindEscalate:
		return dl.DueAt.Add(p.EscalateAfter), kind, true
	case herald.RemindOverdue:
		return dl.DueAt.Add(time.Duration(n) * p.Every), kind, true
	}
	return time.Time{}, "", false
}

// sender is the replica whose request put a sent delivery's message at
// its vendor (-1 when unknown).
func (d *drday) sender(dl herald.Delivery) int {
	if dl.Channel == herald.ChannelEmail {
		for i, s := range d.smtp {
			for _, m := range s.Messages() {
				if m.Header.Get("Message-Id") == dl.ProviderID {
					return i
				}
			}
		}
		return -1
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if i, ok := d.sentBy[dl.ProviderID]; ok {
		return i
	}
	return -1
}

// crashRow is one line of the table of what fell due while the replica
// was down.
type crashRow struct {
	at   time.Time
	what string
	how  string
}

// crashWindow checks that what fell due while the replica was down was
// kept by the others: each update due then given on time (no lapse), each
// reminder step then sent (by a running replica), each holding update then
// recorded and sent; and that something did fall due, or the DR day tested
// nothing. It returns the window's lines for the report.
func (d *drday) crashWindow(in herald.Incident, told []herald.Communication, ds []herald.Delivery, rows []herald.ComplianceRow) []crashRow {
	t := d.t
	from, to := d.crash.killedAt, d.crash.readyAt
	within := func(at time.Time) bool { return !at.Before(from) && !at.After(to) }
	var out []crashRow
	lapsed := map[string]bool{}
	for _, r := range rows {
		for _, l := range r.Lapses {
			lapsed[r.Audience.Key+l.Due.String()] = true
		}
	}
	for _, a := range d.plan.Audiences {
		cad, ok := a.Effective(in)
		if !ok || cad.Kind != herald.Every {
			continue
		}
		times := herald.MessageTimes(in, a, told)
		for i, m := range append([]time.Time{in.CreatedAt}, times...) {
			due := m.Add(cad.Interval)
			if !within(due) {
				continue
			}
			how := "not given before the end"
			for _, next := range times[i:] {
				if next.After(m) {
					how = fmt.Sprintf("given at plan minute %.1f", d.minuteOf(next))
					break
				}
			}
			if lapsed[a.Key+due.String()] {
				t.Errorf("%s update due at plan minute %.1f, while replica %d was down, was late: %s", a.Name, d.minuteOf(due),
					d.crash.victim, how)
				how += " (late)"
			} else {
				how += ", on time"
			}
			out = append(out, crashRow{due, a.Name + " update due", how})
		}
	}
	steps, holdings := 0, 0
	type stepKey struct {
		audience, kind string
		at             int64 // Unix nanoseconds
	}
	seen := map[stepKey][]herald.Delivery{}
	for _, dl := range ds {
		if dl.Kind != herald.KindReminder {
			continue
		}
		at, kind, ok := d.reminderAt(dl)
		if ok && within(at) {
			k := stepKey{dl.Audience, string(kind), at.UnixNano()}
			seen[k] = append(seen[k], dl)
		}
	}
	for k, dls := range seen {
		at := time.Unix(0, k.at)
		steps++
		var sent []string
		for _, dl := range dls {
			who := d.sender(dl)
			if dl.State != herald.DeliverySent {
				t.Errorf("%s %s reminder due while replica %d was down: %s to %s is %s (%s)", k.audience, k.kind, d.crash.victim,
					dl.Channel, dl.Recipient, dl.State, dl.LastError)
				continue
			}
			if who == d.crash.victim && dl.SentAt != nil && dl.SentAt.Before(to) {
				t.Errorf("%s %s reminder by %s was sent by replica %d while it was down", k.audience, k.kind, dl.Channel, who)
			}
			sent = append(sent, fmt.Sprintf("%s to %s by replica %d", dl.Channel, dl.Recipient, who))
		}
		sort.Strings(sent)
		a, _ := d.plan.AudienceByKey(k.audience)
		out = append(out, crashRow{at, fmt.Sprintf("%s reminder (%s)", a.Name, k.kind), "sent: " + strings.Join(sent, ", ")})
	}
	for _, c := range told {
		if c.Author != herald.EngineActor || !within(c.CreatedAt) {
			continue
		}
		holdings++
		var sent []string
		for _, dl := range ds {
			if dl.CommunicationID == c.ID && dl.Kind == herald.KindHolding {
				if dl.State != herald.DeliverySent {
					t.Errorf("the holding update at plan minute %.1f: %s to %s is %s (%s)", d.minuteOf(c.CreatedAt), dl.Channel,
						dl.Recipient, dl.State, dl.LastError)
					continue
				}
				sent = append(sent, fmt.Sprintf("%s to %s by replica %d", dl.Channel, dl.Recipient, d.sender(dl)))
			}
		}
		if len(sent) == 0 {
			t.Errorf("the holding update at plan minute %.1f reached nobody", d.minuteOf(c.CreatedAt))
		}
		sort.Strings(sent)
		a, _ := d.plan.AudienceByKey(c.Audience)
		out = append(out, crashRow{c.CreatedAt, a.Name + " holding update (Herald)", "recorded; sent: " + strings.Join(sent, ", ")})
	}
	// The reply held at Slack when its replica died: recorded by another
	// replica with the ts Slack gave it, after an interrupted attempt.
	held := false
	for _, dl := range ds {
		if dl.Channel == herald.ChannelSlack && dl.ProviderID == d.crash.held {
			held = true
			if dl.State != herald.DeliverySent || dl.Attempts < 2 {
				t.Errorf("the reply held at Slack when replica %d died: %s after %d attempt(s), want sent after an interrupted "+
					"attempt", d.crash.victim, dl.State, dl.Attempts)
			}
		}
	}
	if !held {
		t.Errorf("the reply held at Slack when replica %d died (ts %s) is no delivery's: it was posted again", d.crash.victim,
			d.crash.held)
	}
	if steps == 0 || holdings == 0 {
		t.Errorf("while replica %d was down (plan minutes %.1f to %.1f): %d reminder steps and %d holding updates fell due; "+
			"the script means at least one of each", d.crash.victim, d.minuteOf(from), d.minuteOf(to), steps, holdings)
	}
	slices.SortStableFunc(out, func(a, b crashRow) int { return a.at.Compare(b.at) })
	return out
}
