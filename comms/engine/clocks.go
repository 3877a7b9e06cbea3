package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kredete/herald"
)

// Run keeps the plan's clocks until ctx ends: at each step's time it sends
// the reminder, the escalation or the holding update the plan asks for,
// once across replicas (the step's key is claimed in the database). It
// sleeps until the next step is due or the history changes; it never
// polls on a fixed tick.
func (e *Engine) Run(ctx context.Context) error {
	// The failover actions' watch runs beside the clocks, so its reads
	// never delay a reminder that falls due.
	actionsWake := make(chan struct{}, 1)
	actionsDone := make(chan struct{})
	go func() {
		defer close(actionsDone)
		e.runActions(ctx, actionsWake)
	}()
	defer func() { <-actionsDone }()
	reason := "start"
	for {
		began := time.Now()
		next, err := e.Tick(ctx)
		took := time.Since(began)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			e.log.Error("cadence engine tick failed", "error", err.Error())
			next = e.now().Add(5 * time.Second) // the database is away: look again soon
		}
		if took > time.Second {
			e.log.Warn("cadence engine tick slow", "took_ms", took.Milliseconds())
		}
		e.log.Debug("cadence engine woke", "reason", reason, "took_ms", float64(took.Microseconds())/1000, "next", next)
		var wake <-chan time.Time
		var t *time.Timer
		if !next.IsZero() {
			t = time.NewTimer(max(next.Sub(e.now()), 0))
			wake = t.C
		}
		select {
		case <-ctx.Done():
		case <-wake:
			reason = "due"
		case <-e.o.Changes:
			reason = "change"
			select {
			case actionsWake <- struct{}{}:
			default:
			}
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// clockReader is the light read the clocks use when the store offers it
// (store.Store does): the owed incidents without their updates, the last
// message to each audience, the regulator reports' steps.
type clockReader interface {
	ClockState(ctx context.Context) ([]herald.Incident, []herald.Communication, []herald.RegulatorReport, error)
}

// clockMemo is what the clocks remember between wakes, per obligation: the
// step Current found and the time of the next one (Current returns the
// same until then, so a wake does not list every overdue step again), and
// whether the step was carried out (its key claimed, here or by another
// replica), so a wake does not claim it again.
type clockMemo struct {
	mu    sync.Mutex
	gen   uint64
	steps map[string]*clockStep // by obligation key
}

type clockStep struct {
	due  time.Time        // the obligation's exact due time
	cur  *herald.Reminder // the step in force, nil before the first
	next time.Time        // the next step's time; zero when none
	done bool             // cur was carried out
	gen  uint64           // the last wake that saw the obligation
	// answers counts the snoozes and acknowledgements the steps were
	// computed with: a new one computes them again.
	answers int
}

// holds reports whether the memo's step is still Current's answer at now.
func (c *clockStep) holds(due, now time.Time) bool {
	return c.due.Equal(due) && (c.next.IsZero() || now.Before(c.next)) && (c.cur == nil || !now.Before(c.cur.At))
}

// Tick fires every step whose time has come and returns the time of the
// next one (zero when nothing is scheduled).
func (e *Engine) Tick(ctx context.Context) (time.Time, error) {
	m := &e.clocks
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.steps == nil {
		m.steps = map[string]*clockStep{}
	}
	m.gen++
	now := e.now()
	incidents, told, reports, err := e.clockInputs(ctx)
	if err != nil {
		return time.Time{}, err
	}
	byIncident := make(map[string][]herald.Communication, len(incidents))
	for _, c := range told {
		byIncident[c.IncidentID] = append(byIncident[c.IncidentID], c)
	}
	reportsOf := map[string][]herald.RegulatorReport{}
	for _, r := range reports {
		reportsOf[r.IncidentID] = append(reportsOf[r.IncidentID], r)
	}
	answers, err := e.reminderAnswers(ctx, incidents)
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	var failed error
	for _, in := range incidents {
		for _, ob := range herald.Obligations(e.o.Plan, in, byIncident[in.ID], reportsOf[in.ID]) {
			key := ob.Key()
			st := m.steps[key]
			if st == nil || !st.holds(ob.Due, now) || st.answers != len(answers[key]) {
				a, _ := e.o.Plan.AudienceByKey(ob.Audience)
				cur, n := a.CurrentWith(ob, answers[key], now)
				fresh := &clockStep{due: ob.Due, cur: cur, next: n, answers: len(answers[key])}
				if st != nil && st.cur != nil && cur != nil && st.cur.Key() == cur.Key() {
					fresh.done = st.done
				}
				st = fresh
				m.steps[key] = st
			}
			st.gen = m.gen
			if st.cur != nil && !st.done && failed == nil {
				a, _ := e.o.Plan.AudienceByKey(ob.Audience)
				if err := e.fire(ctx, in, a, *st.cur); err != nil {
					failed = err // stop firing; the caller looks again soon
				} else {
					st.done = true
				}
			}
			if !st.next.IsZero() && (next.IsZero() || st.next.Before(next)) {
				next = st.next
			}
		}
	}
	for key, st := range m.steps {
		if st.gen != m.gen {
			delete(m.steps, key) // met, moved or closed
		}
	}
	if failed != nil {
		return time.Time{}, failed
	}
	return next, nil
}

// clockInputs reads what the clocks need: the owed incidents (incidents
// only; a maintenance has no clocks), what was told and the regulator
// reports.
func (e *Engine) clockInputs(ctx context.Context) ([]herald.Incident, []herald.Communication, []herald.RegulatorReport, error) {
	if r, ok := e.o.Store.(clockReader); ok {
		return r.ClockState(ctx)
	}
	open, err := e.o.Store.IncidentsOwed(ctx)
	if err != nil {
		return nil, nil, nil, err
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
		return nil, nil, nil, err
	}
	reports, err := e.o.Store.RegulatorReports(ctx, ids)
	if err != nil {
		return nil, nil, nil, err
	}
	return incidents, told, reports, nil
}

// fire carries out one step, once. in may be the light incident of
// ClockState: what the text needs beyond its name is loaded here. late_ms
// in the logs, and the lateness counted in Metrics, is how long after the
// step's time it was queued (committed), by the replica that claimed it.
func (e *Engine) fire(ctx context.Context, in herald.Incident, a herald.Audience, r herald.Reminder) error {
	if r.Kind == herald.RemindHolding {
		full, err := e.o.Store.Incident(ctx, in.ID)
		if err != nil {
			return err
		}
		body := e.holdingText(ctx, full, a, r)
		done, err := e.o.Store.RecordHolding(ctx, r.Key(), in.ID, a.Key, body)
		if done {
			late := r.Late(e.now())
			e.o.Metrics.Fired(r.Kind, late)
			e.log.Info("holding update sent", "incident_id", in.ID, "audience", a.Key, "late_ms", late.Milliseconds())
		}
		return err
	}
	text := e.reminderText(in, a, r, e.now())
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
		late := r.Late(e.now())
		e.o.Metrics.Fired(r.Kind, late)
		e.log.Info("reminder queued", "incident_id", in.ID, "audience", a.Key, "kind", r.Kind, "recipients", len(ds),
			"late_ms", late.Milliseconds())
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
	case herald.RemindSnoozed:
		fmt.Fprintf(&b, "Snooze over: %s (in %s)", what, roundMin(r.Obligation.Due.Sub(now)))
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

// reminderReader is the store's list of answers to reminders (Slack's
// snooze and "I'm on it" buttons).
type reminderReader interface {
	ReminderResponses(ctx context.Context, incidentIDs []string) ([]herald.ReminderResponse, error)
}

// reminderAnswers reads the answers to the incidents' reminders, by
// obligation key.
func (e *Engine) reminderAnswers(ctx context.Context, incidents []herald.Incident) (map[string][]herald.ReminderResponse, error) {
	r, ok := e.o.Store.(reminderReader)
	if !ok || len(incidents) == 0 {
		return nil, nil
	}
	ids := make([]string, len(incidents))
	for i, in := range incidents {
		ids[i] = in.ID
	}
	list, err := r.ReminderResponses(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]herald.ReminderResponse, len(list))
	for _, a := range list {
		out[a.ObligationKey] = append(out[a.ObligationKey], a)
	}
	return out, nil
}
