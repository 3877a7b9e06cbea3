package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kredete/herald"
)

// Run keeps the plan's clocks until ctx ends: at each step's time it sends
// the reminder, the escalation or the holding update the plan asks for,
// once across replicas (the step's key is claimed in the database). It
// sleeps until the next step is due or the history changes; it never
// polls on a fixed tick.
func (e *Engine) Run(ctx context.Context) error {
	for {
		next, err := e.Tick(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			e.log.Error("cadence engine tick failed", "error", err.Error())
			next = e.now().Add(5 * time.Second) // the database is away: look again soon
		}
		var wake <-chan time.Time
		var t *time.Timer
		if !next.IsZero() {
			t = time.NewTimer(max(next.Sub(e.now()), 0))
			wake = t.C
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-e.o.Changes:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// Tick fires every step whose time has come and returns the time of the
// next one (zero when nothing is scheduled).
func (e *Engine) Tick(ctx context.Context) (time.Time, error) {
	now := e.now()
	open, err := e.o.Store.IncidentsOwed(ctx)
	if err != nil {
		return time.Time{}, err
	}
	var ids []string
	var incidents []herald.Incident
	for _, in := range open {
		if in.Kind == herald.KindIncident {
			ids = append(ids, in.ID)
			incidents = append(incidents, in)
		}
	}
	told, err := e.o.Store.Communications(ctx, ids)
	if err != nil {
		return time.Time{}, err
	}
	byIncident := map[string][]herald.Communication{}
	for _, c := range told {
		byIncident[c.IncidentID] = append(byIncident[c.IncidentID], c)
	}
	reports, err := e.o.Store.RegulatorReports(ctx, ids)
	if err != nil {
		return time.Time{}, err
	}
	reportsOf := map[string][]herald.RegulatorReport{}
	for _, r := range reports {
		reportsOf[r.IncidentID] = append(reportsOf[r.IncidentID], r)
	}
	var next time.Time
	for _, in := range incidents {
		for _, ob := range herald.Obligations(e.o.Plan, in, byIncident[in.ID], reportsOf[in.ID]) {
			a, _ := e.o.Plan.AudienceByKey(ob.Audience)
			cur, n := a.Current(ob, now)
			if cur != nil {
				if err := e.fire(ctx, in, a, *cur, now); err != nil {
					return time.Time{}, err
				}
			}
			if !n.IsZero() && (next.IsZero() || n.Before(next)) {
				next = n
			}
		}
	}
	return next, nil
}

// fire carries out one step, once.
func (e *Engine) fire(ctx context.Context, in herald.Incident, a herald.Audience, r herald.Reminder, now time.Time) error {
	if r.Kind == herald.RemindHolding {
		body := e.holdingText(ctx, in, a, r)
		done, err := e.o.Store.RecordHolding(ctx, r.Key(), in.ID, a.Key, body)
		if done {
			e.log.Info("holding update sent", "incident_id", in.ID, "audience", a.Key, "late_ms", now.Sub(r.At).Milliseconds())
		}
		return err
	}
	text := e.reminderText(in, a, r, now)
	ds, err := e.toPeople(ctx, in.ID, r.To, a.Recipients.Contacts, channelsFor(a), herald.KindReminder, "Reminder: "+in.Name, text, r.Key())
	if err != nil {
		return err
	}
	due := r.Obligation.Due
	for i := range ds {
		ds[i].Audience, ds[i].ObligationKey, ds[i].DueAt = a.Key, r.Obligation.Key(), &due
	}
	done, err := e.o.Store.QueueOnce(ctx, r.Key(), in.ID, ds)
	if done {
		e.log.Info("reminder queued", "incident_id", in.ID, "audience", a.Key, "kind", r.Kind, "recipients", len(ds),
			"late_ms", now.Sub(r.At).Milliseconds())
	}
	return err
}

func channelsFor(a herald.Audience) []herald.Channel {
	if len(a.ReminderPolicy.Channels) > 0 {
		return a.ReminderPolicy.Channels
	}
	return []herald.Channel{herald.ChannelSlack}
}

func (e *Engine) reminderText(in herald.Incident, a herald.Audience, r herald.Reminder, now time.Time) string {
	what := r.Obligation.Describe(a, e.loc)
	var b strings.Builder
	switch r.Kind {
	case herald.RemindBefore:
		fmt.Fprintf(&b, "Reminder: %s (in %s)", what, roundMin(r.Obligation.Due.Sub(now)))
	case herald.RemindDue:
		fmt.Fprintf(&b, "Due now: %s", what)
	case herald.RemindOverdue:
		fmt.Fprintf(&b, "OVERDUE by %s: %s", roundMin(now.Sub(r.Obligation.Due)), what)
	case herald.RemindEscalate:
		fmt.Fprintf(&b, "Escalation, OVERDUE by %s: %s. The commander has not sent it yet", roundMin(now.Sub(r.Obligation.Due)), what)
	}
	fmt.Fprintf(&b, ". Incident: %s.", in.Name)
	if e.o.ConsoleURL != "" {
		fmt.Fprintf(&b, " %s/console/incidents/%s", strings.TrimRight(e.o.ConsoleURL, "/"), in.ID)
	}
	return b.String()
}

// holdingText is the automatic holding update: the incident's state, the
// last message to the audience and when the next will come.
func (e *Engine) holdingText(ctx context.Context, in herald.Incident, a herald.Audience, r herald.Reminder) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Holding update (automatic): %s is %s, impact %s, for %s so far.",
		in.Name, strings.ToLower(in.Status.Label()), in.Impact.Label(), roundMin(r.At.Sub(in.StartedAt)))
	if comps, err := e.o.Store.Components(ctx); err == nil {
		var names []string
		for _, c := range comps {
			if in.Affects(c.ID) {
				names = append(names, c.Name+" ("+c.Status.Label()+")")
			}
		}
		if len(names) > 0 {
			fmt.Fprintf(&b, " Affected: %s.", strings.Join(names, ", "))
		}
	}
	if len(in.Updates) > 0 {
		fmt.Fprintf(&b, " Last public message: %q", in.Updates[0].Body)
		b.WriteString(".")
	}
	cad, _ := a.Effective(in)
	fmt.Fprintf(&b, " No new information since; next update by %s.", r.At.Add(cad.Interval).In(e.loc).Format("15:04 MST"))
	return b.String()
}

func roundMin(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}
