package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kredete/herald"
)

// ActionTick reports late failover steps and tells people an action waits
// on them, once each, and returns when the next step's window ends (zero
// when none).
func (e *Engine) ActionTick(ctx context.Context) (time.Time, error) {
	next, err := e.lateSteps(ctx, e.now())
	if err != nil {
		return time.Time{}, err
	}
	return next, e.notifyPending(ctx)
}

// runActions keeps ActionTick going until ctx ends: at the next window's
// end, on a change, and every minute as a safety net.
func (e *Engine) runActions(ctx context.Context, wake <-chan struct{}) {
	for {
		next, err := e.ActionTick(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			e.log.Error("failover action watch failed", "error", err.Error())
		}
		d := time.Minute
		if err != nil {
			d = 5 * time.Second
		} else if !next.IsZero() {
			d = min(d, max(next.Sub(e.now()), 0))
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-wake:
			t.Stop()
		}
	}
}

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
			// Reported now (here or by another replica): the next wake is
			// the next unreported step's window end, not this one's.
			a.Steps[st.Position-1].LateReported = true
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

// pendingWatch is what the engine needs to tell people an action waits on
// them; the store offers it.
type pendingWatch interface {
	PendingActions(ctx context.Context) ([]herald.Action, error)
	Users(ctx context.Context) ([]herald.User, error)
}

// notifyPending tells, once per action and step of its approval, the
// people it waits on: every holder of the approver role when it awaits
// approval (not the requester), every holder of the executor role once it
// is approved. They hear by Slack direct message and email, with a link to
// the incident; the approval itself is given in the console.
func (e *Engine) notifyPending(ctx context.Context) error {
	w, ok := e.o.Store.(pendingWatch)
	if !ok {
		return nil
	}
	actions, err := w.PendingActions(ctx)
	if err != nil || len(actions) == 0 {
		return err
	}
	users, err := w.Users(ctx)
	if err != nil {
		return err
	}
	for _, a := range actions {
		p, ok := e.o.Plan.Procedure(a.Kind, a.Key)
		if !ok {
			continue
		}
		role, what, stage := p.ApproverRole, "needs your approval", "approval"
		if a.State == herald.ActionApproved {
			role, what, stage = p.ExecutorRole, "is approved and waits for you to start it", "execute"
		}
		if role == "" {
			continue
		}
		var ds []herald.Delivery
		text := fmt.Sprintf("%s %s. Requested by %s", a.Name, what, a.RequestedBy)
		if a.Reason != "" {
			text += ": " + a.Reason
		}
		text += "."
		if e.o.ConsoleURL != "" {
			text += fmt.Sprintf(" %s/console/incidents/%s#actions", strings.TrimRight(e.o.ConsoleURL, "/"), a.IncidentID)
		}
		for _, u := range users {
			if u.Disabled || u.Role != role || (stage == "approval" && u.ID == a.RequestedBy.ID) {
				continue
			}
			for _, ch := range []herald.Channel{herald.ChannelSlack, herald.ChannelEmail} {
				if _, ok := e.o.Channels[ch]; !ok || u.Email == "" {
					continue
				}
				to := u.Email
				if ch == herald.ChannelSlack && herald.IsSlackMemberID(u.SlackUserID) {
					to = u.SlackUserID
				}
				ds = append(ds, herald.Delivery{Channel: ch, Kind: herald.KindReminder, Recipient: to,
					Subject: "Failover action: " + a.Name + " " + what, Body: text,
					Key: fmt.Sprintf("%s/action/%s/%s/%s/%s", a.IncidentID, a.ID, stage, ch, u.Email)})
			}
		}
		if len(ds) == 0 {
			continue
		}
		done, err := e.o.Store.QueueOnce(ctx, a.IncidentID+"/action/"+a.ID+"/"+stage, a.IncidentID, ds)
		if err != nil {
			return err
		}
		if done {
			e.log.Info("failover action waits on people; told", "incident_id", a.IncidentID, "action_id", a.ID,
				"stage", stage, "recipients", len(ds))
		}
	}
	return nil
}
