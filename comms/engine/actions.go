package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kredete/herald"
)

// actionWatch is what the engine needs to report late failover steps; the
// store offers it.
type actionWatch interface {
	RunningActions(ctx context.Context) ([]herald.Action, error)
	ReportLateStep(ctx context.Context, a herald.Action, st herald.ActionStep, ds []herald.Delivery) (bool, error)
}

// lateSteps tells the commander, once across replicas, of each running
// action's step that is past its expected window, and returns when the
// next window ends (zero when none).
func (e *Engine) lateSteps(ctx context.Context, now time.Time) (time.Time, error) {
	w, ok := e.o.Store.(actionWatch)
	if !ok {
		return time.Time{}, nil
	}
	actions, err := w.RunningActions(ctx)
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	for _, a := range actions {
		for _, st := range a.LateSteps(now) {
			text := e.lateText(a, st, now)
			ds, err := e.toPeople(ctx, a.IncidentID, []herald.IncidentRole{herald.SeatCommander}, nil,
				[]herald.Channel{herald.ChannelSlack, herald.ChannelSMS, herald.ChannelEmail}, herald.KindReminder,
				"Late failover step: "+a.Name, text, fmt.Sprintf("late/%s/%d", a.ID, st.Position))
			if err != nil {
				return time.Time{}, err
			}
			claimed, err := w.ReportLateStep(ctx, a, st, ds)
			if err != nil {
				return time.Time{}, err
			}
			if claimed {
				due, _ := a.Due(st)
				e.log.Warn("failover step late", "incident_id", a.IncidentID, "action_id", a.ID, "step", st.Position,
					"late_ms", now.Sub(due).Milliseconds())
			}
		}
		// Look again when the next step's window ends; a step already
		// late and reported needs no further wake.
		if due, ok := a.NextDue(); ok && due.After(now) && (next.IsZero() || due.Before(next)) {
			next = due
		}
	}
	return next, nil
}

func (e *Engine) lateText(a herald.Action, st herald.ActionStep, now time.Time) string {
	due, _ := a.Due(st)
	var b strings.Builder
	fmt.Fprintf(&b, "LATE: %s, step %d (%s) was expected done by %s (%s into the action) and is %s, %s late.",
		a.Name, st.Position, st.Name, due.In(e.loc).Format("15:04 MST"), herald.HumanDuration(st.WindowEnd), st.State,
		roundMin(now.Sub(due)))
	if a.AutomationURL != "" {
		b.WriteString(" Its automation has not reported the step done.")
	}
	if e.o.ConsoleURL != "" {
		fmt.Fprintf(&b, " %s/console/incidents/%s#actions", strings.TrimRight(e.o.ConsoleURL, "/"), a.IncidentID)
	}
	return b.String()
}
