package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kredete/herald"
)

const (
	actionColumns = `id, incident_id, procedure_kind, procedure_key, name, state, reason, rule, requested_by, requested_name,
		requested_at, decided_by, decided_name, decided_at, decision_note, started_by, started_name, started_at, finished_at,
		precondition, automation_url, automation_state, automation_error, version`
	insertActionRow = `INSERT INTO actions (id, incident_id, procedure_kind, procedure_key, name, state, reason, rule, requested_by,
		requested_name, requested_at, started_by, started_name, started_at, automation_url, automation_state, version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`
	updateActionRow = `UPDATE actions SET state = $2, decided_by = $3, decided_name = $4, decided_at = $5, decision_note = $6,
		started_by = $7, started_name = $8, started_at = $9, finished_at = $10, precondition = $11, automation_state = $12,
		automation_error = $13, version = $14 WHERE id = $1`
	insertStep = `INSERT INTO action_steps (action_id, position, name, detail, window_start, window_end, state)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`
	updateStep = `UPDATE action_steps SET state = $3, started_at = $4, finished_at = $5, actor = $6, note = $7
		WHERE action_id = $1 AND position = $2`
	stepColumns = `action_id, position, name, detail, window_start, window_end, state, started_at, finished_at, actor, note,
		late_reported`
	claimLateStep = `UPDATE action_steps SET late_reported = TRUE WHERE action_id = $1 AND position = $2 AND late_reported = FALSE`
)

// insertAction stores a new action with its steps, the timeline line and
// the audit entry, in tx; an action that starts at once and has an
// automation endpoint queues the call.
func (s *Store) insertAction(ctx context.Context, tx *sql.Tx, a *herald.Action, actor string, now time.Time) error {
	a.ID = newID()
	if _, err := tx.ExecContext(ctx, s.q(insertActionRow), a.ID, a.IncidentID, a.Kind, a.Key, a.Name, a.State, a.Reason, a.Rule,
		a.RequestedBy.ID, a.RequestedBy.Name, a.RequestedAt, a.StartedBy.ID, a.StartedBy.Name, nullTime(a.StartedAt),
		a.AutomationURL, a.AutomationState, a.Version); err != nil {
		return fmt.Errorf("store: insert action: %w", err)
	}
	for _, st := range a.Steps {
		if _, err := tx.ExecContext(ctx, s.q(insertStep), a.ID, st.Position, st.Name, st.Detail, int64(st.WindowStart/time.Second),
			int64(st.WindowEnd/time.Second), st.State); err != nil {
			return fmt.Errorf("store: insert action step: %w", err)
		}
	}
	summary := "Failover action requested: " + a.Name
	if a.Rule != "" {
		summary = "Failover action started by a rule (" + a.Rule + "): " + a.Name
	}
	if a.Reason != "" {
		summary += " (" + a.Reason + ")"
	}
	switch a.State {
	case herald.ActionAwaitingApproval:
		summary += ". Awaiting approval"
	case herald.ActionRunning:
		summary += ". Running"
	}
	if err := s.timeline(ctx, tx, a.IncidentID, "action", actor, summary, now); err != nil {
		return err
	}
	if err := s.audit(ctx, tx, auditRecord{Actor: actor, Action: "action.request", IncidentID: a.IncidentID, Entity: "action",
		EntityID: a.ID, After: actionState(*a)}); err != nil {
		return err
	}
	return s.queueAutomation(ctx, tx, a, nil, now)
}

// actionState is what the audit log records of an action.
func actionState(a herald.Action) map[string]any {
	steps := make([]string, len(a.Steps))
	for i, st := range a.Steps {
		steps[i] = string(st.State)
	}
	return map[string]any{"procedure": string(a.Kind) + ":" + a.Key, "state": a.State, "reason": a.Reason,
		"requested_by": a.RequestedBy.String(), "decided_by": a.DecidedBy.String(), "decision_note": a.DecisionNote,
		"started_by": a.StartedBy.String(), "precondition": a.Precondition, "steps": steps}
}

// automationCall is the body Herald posts to an automation endpoint.
type automationCall struct {
	Action      string                   `json:"action_id"`
	Incident    string                   `json:"incident_id"`
	Procedure   string                   `json:"procedure"`
	Name        string                   `json:"name"`
	ApprovedBy  string                   `json:"approved_by,omitempty"`
	Precheck    string                   `json:"precondition,omitempty"`
	Steps       []map[string]interface{} `json:"steps"`
	RequestedAt time.Time                `json:"requested_at"`
	// Drill: the action runs for a DR exercise, not a real incident; the
	// automation decides what that means for it.
	Drill bool `json:"drill"`
}

// queueAutomation queues the signed call to the action's automation
// endpoint when the action has just started running.
func (s *Store) queueAutomation(ctx context.Context, tx *sql.Tx, a *herald.Action, prev *herald.Action, now time.Time) error {
	if a.AutomationURL == "" || a.State != herald.ActionRunning || (prev != nil && prev.State == herald.ActionRunning) {
		return nil
	}
	call := automationCall{Action: a.ID, Incident: a.IncidentID, Procedure: string(a.Kind) + ":" + a.Key, Name: a.Name,
		ApprovedBy: a.DecidedBy.Name, Precheck: a.Precondition, RequestedAt: a.RequestedAt}
	if err := tx.QueryRowContext(ctx, s.q(`SELECT drill FROM incidents WHERE id = $1`), a.IncidentID).Scan(&call.Drill); err != nil {
		return fmt.Errorf("store: automation call: %w", err)
	}
	for _, st := range a.Steps {
		call.Steps = append(call.Steps, map[string]interface{}{"position": st.Position, "name": st.Name,
			"window_end_seconds": int64(st.WindowEnd / time.Second)})
	}
	body, err := json.Marshal(call)
	if err != nil {
		return fmt.Errorf("store: automation call: %w", err)
	}
	d := herald.Delivery{Channel: herald.ChannelAutomation, Kind: herald.KindAutomation, Recipient: a.AutomationURL,
		Subject: a.Name, Body: string(body), Key: a.ID + "/automation/start"}
	_, err = s.writeDeliveries(ctx, tx, a.IncidentID, "", []herald.Delivery{d}, now)
	return err
}

// RequestAction starts a procedure for an incident: a gated one waits for
// its approver, any other runs at once.
func (s *Store) RequestAction(ctx context.Context, incidentID string, p herald.Procedure, req herald.ActionRequest, by herald.User) (herald.Action, error) {
	var out herald.Action
	err := s.transact(ctx, true, func(tx *sql.Tx) error {
		list, err := s.loadIncidents(ctx, tx, `id = $1`, incidentID)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return fmt.Errorf("store: incident %q: %w", incidentID, herald.ErrNotFound)
		}
		now := s.Now()
		a, err := herald.RequestAction(p, list[0], req, by, now)
		if err != nil {
			return err
		}
		if err := s.insertAction(ctx, tx, &a, by.Name, now); err != nil {
			return err
		}
		out = a
		return nil
	})
	return out, err
}

// Actions lists an incident's failover actions, oldest first, with steps.
func (s *Store) Actions(ctx context.Context, incidentID string) ([]herald.Action, error) {
	return s.queryActions(ctx, s.db, `incident_id = $1`, incidentID)
}

// Action reads one action with its steps.
func (s *Store) Action(ctx context.Context, id string) (herald.Action, error) {
	list, err := s.queryActions(ctx, s.db, `id = $1`, id)
	if err != nil {
		return herald.Action{}, err
	}
	if len(list) == 0 {
		return herald.Action{}, fmt.Errorf("store: action %q: %w", id, herald.ErrNotFound)
	}
	return list[0], nil
}

// RunningActions lists every running action, for the engine's watch on
// late steps.
func (s *Store) RunningActions(ctx context.Context) ([]herald.Action, error) {
	return s.queryActions(ctx, s.db, `state = 'running'`)
}

func (s *Store) queryActions(ctx context.Context, db querier, where string, args ...any) ([]herald.Action, error) {
	rows, err := db.QueryContext(ctx, s.q(`SELECT `+actionColumns+` FROM actions WHERE `+where+` ORDER BY requested_at, id`), args...)
	if err != nil {
		return nil, fmt.Errorf("store: actions: %w", err)
	}
	var out []herald.Action
	idx := map[string]int{}
	for rows.Next() {
		var a herald.Action
		var decided, started, finished sql.NullTime
		if err := rows.Scan(&a.ID, &a.IncidentID, &a.Kind, &a.Key, &a.Name, &a.State, &a.Reason, &a.Rule, &a.RequestedBy.ID,
			&a.RequestedBy.Name, &a.RequestedAt, &a.DecidedBy.ID, &a.DecidedBy.Name, &decided, &a.DecisionNote, &a.StartedBy.ID,
			&a.StartedBy.Name, &started, &finished, &a.Precondition, &a.AutomationURL, &a.AutomationState, &a.AutomationError,
			&a.Version); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: scan action: %w", err)
		}
		a.RequestedAt = a.RequestedAt.UTC()
		a.DecidedAt, a.StartedAt, a.FinishedAt = timePtr(decided), timePtr(started), timePtr(finished)
		idx[a.ID] = len(out)
		out = append(out, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: actions: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]string, len(out))
	for i, a := range out {
		ids[i] = a.ID
	}
	in, inArgs := inList(ids)
	srows, err := db.QueryContext(ctx, s.q(`SELECT `+stepColumns+` FROM action_steps WHERE action_id IN (`+in+`) ORDER BY action_id, position`), inArgs...)
	if err != nil {
		return nil, fmt.Errorf("store: action steps: %w", err)
	}
	defer srows.Close()
	for srows.Next() {
		var st herald.ActionStep
		var actionID string
		var ws, we int64
		var started, finished sql.NullTime
		if err := srows.Scan(&actionID, &st.Position, &st.Name, &st.Detail, &ws, &we, &st.State, &started, &finished, &st.Actor,
			&st.Note, &st.LateReported); err != nil {
			return nil, fmt.Errorf("store: scan action step: %w", err)
		}
		st.WindowStart, st.WindowEnd = time.Duration(ws)*time.Second, time.Duration(we)*time.Second
		st.StartedAt, st.FinishedAt = timePtr(started), timePtr(finished)
		a := &out[idx[actionID]]
		a.Steps = append(a.Steps, st)
	}
	return out, srows.Err()
}

// withAction runs fn on the locked, freshly loaded action and saves it, its
// changed steps, a timeline line and an audit entry, in one transaction.
// version > 0 must match, else ErrStale.
func (s *Store) withAction(ctx context.Context, id string, version int, actor, verb string,
	fn func(a *herald.Action, in herald.Incident, now time.Time) (string, error)) (herald.Action, error) {
	var out herald.Action
	err := s.transact(ctx, true, func(tx *sql.Tx) error {
		var incidentID string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT incident_id FROM actions WHERE id = $1 FOR UPDATE`), id).Scan(&incidentID); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("store: action %q: %w", id, herald.ErrNotFound)
			}
			return fmt.Errorf("store: action: %w", err)
		}
		now := s.Now()
		list, err := s.queryActions(ctx, tx, `id = $1`, id)
		if err != nil {
			return err
		}
		a := list[0]
		if version > 0 && a.Version != version {
			return fmt.Errorf("someone else changed this action since you opened it; review the latest state and try again: %w", herald.ErrConflict)
		}
		ins, err := s.loadIncidents(ctx, tx, `id = $1`, incidentID)
		if err != nil {
			return err
		}
		prev := a
		prev.Steps = append([]herald.ActionStep(nil), a.Steps...)
		summary, err := fn(&a, ins[0], now)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(updateActionRow), a.ID, a.State, a.DecidedBy.ID, a.DecidedBy.Name, nullTime(a.DecidedAt),
			a.DecisionNote, a.StartedBy.ID, a.StartedBy.Name, nullTime(a.StartedAt), nullTime(a.FinishedAt), a.Precondition,
			a.AutomationState, a.AutomationError, a.Version); err != nil {
			return fmt.Errorf("store: update action: %w", err)
		}
		for i, st := range a.Steps {
			old := prev.Steps[i]
			if st.State == old.State && st.Note == old.Note && equalTime(st.StartedAt, old.StartedAt) && equalTime(st.FinishedAt, old.FinishedAt) {
				continue
			}
			if _, err := tx.ExecContext(ctx, s.q(updateStep), a.ID, st.Position, st.State, nullTime(st.StartedAt),
				nullTime(st.FinishedAt), st.Actor, st.Note); err != nil {
				return fmt.Errorf("store: update action step: %w", err)
			}
		}
		if summary != "" {
			if err := s.timeline(ctx, tx, a.IncidentID, "action", actor, summary, now); err != nil {
				return err
			}
		}
		if a.State == herald.ActionCompleted && prev.State != herald.ActionCompleted {
			if err := s.timeline(ctx, tx, a.IncidentID, "action", actor, "Failover action completed: "+a.Name, now); err != nil {
				return err
			}
		}
		if err := s.audit(ctx, tx, auditRecord{Actor: actor, Action: "action." + verb, IncidentID: a.IncidentID, Entity: "action",
			EntityID: a.ID, Before: actionState(prev), After: actionState(a)}); err != nil {
			return err
		}
		if err := s.queueAutomation(ctx, tx, &a, &prev, now); err != nil {
			return err
		}
		out = a
		return nil
	})
	return out, err
}

func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// DecideAction approves or refuses a gated action.
func (s *Store) DecideAction(ctx context.Context, id string, version int, p herald.Procedure, approve bool, by herald.User, note string) (herald.Action, error) {
	verb := "refuse"
	if approve {
		verb = "approve"
	}
	return s.withAction(ctx, id, version, by.Name, verb, func(a *herald.Action, _ herald.Incident, now time.Time) (string, error) {
		if err := a.Decide(p, approve, by, note, now); err != nil {
			return "", err
		}
		word := "Refused"
		if approve {
			word = "Approved"
		}
		line := fmt.Sprintf("%s: %s (requested by %s)", word, a.Name, a.RequestedBy)
		if a.DecisionNote != "" {
			line += ": " + a.DecisionNote
		}
		if approve && a.State == herald.ActionRunning {
			line += ". The automation runs it now"
		}
		return line, nil
	})
}

// ExecuteAction starts an approved action; lag is the measured replication
// lag for a procedure with that precondition.
func (s *Store) ExecuteAction(ctx context.Context, id string, version int, p herald.Procedure, by herald.User, lag *time.Duration) (herald.Action, error) {
	return s.withAction(ctx, id, version, by.Name, "execute", func(a *herald.Action, _ herald.Incident, now time.Time) (string, error) {
		if err := a.Execute(p, by, lag, now); err != nil {
			return "", err
		}
		line := "Execution started: " + a.Name
		if a.Precondition != "" {
			line += " (" + a.Precondition + ")"
		}
		return line, nil
	})
}

// SetActionStep moves one step; by nil records the automation's report.
func (s *Store) SetActionStep(ctx context.Context, id string, version int, p herald.Procedure, c herald.StepChange, by *herald.User) (herald.Action, error) {
	actor := "automation"
	if by != nil {
		actor = by.Name
	}
	return s.withAction(ctx, id, version, actor, "step", func(a *herald.Action, _ herald.Incident, now time.Time) (string, error) {
		st, err := a.SetStep(p, c, by, now)
		if err != nil {
			return "", err
		}
		line := fmt.Sprintf("%s, step %d (%s): %s", a.Name, st.Position, st.Name, st.State)
		if st.Note != "" && c.Note != "" {
			line += ": " + st.Note
		}
		return line, nil
	})
}

// CancelAction stops an action that has not finished.
func (s *Store) CancelAction(ctx context.Context, id string, version int, by herald.User, reason string) (herald.Action, error) {
	return s.withAction(ctx, id, version, by.Name, "cancel", func(a *herald.Action, _ herald.Incident, now time.Time) (string, error) {
		if err := a.Cancel(by, reason, now); err != nil {
			return "", err
		}
		return "Cancelled: " + a.Name + ": " + strings.TrimSpace(reason), nil
	})
}

// FailAction marks a running action failed.
func (s *Store) FailAction(ctx context.Context, id string, version int, p herald.Procedure, by herald.User, reason string) (herald.Action, error) {
	return s.withAction(ctx, id, version, by.Name, "fail", func(a *herald.Action, _ herald.Incident, now time.Time) (string, error) {
		if err := a.Fail(p, by, reason, now); err != nil {
			return "", err
		}
		return "Failed: " + a.Name + ": " + strings.TrimSpace(reason), nil
	})
}

// ReportLateStep claims the report that a step is late, once across
// replicas, and queues it (ds) with a timeline line in the same
// transaction. It reports false when another replica claimed it first.
func (s *Store) ReportLateStep(ctx context.Context, a herald.Action, st herald.ActionStep, ds []herald.Delivery) (bool, error) {
	claimed := false
	err := s.transact(ctx, true, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(claimLateStep), a.ID, st.Position)
		if err != nil {
			return fmt.Errorf("store: claim late step: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		claimed = true
		now := s.Now()
		due, _ := a.Due(st)
		line := fmt.Sprintf("Late: %s, step %d (%s) was expected done by %s into the action (%s UTC) and is %s",
			a.Name, st.Position, st.Name, herald.HumanDuration(st.WindowEnd), due.UTC().Format("15:04"), st.State)
		if err := s.timeline(ctx, tx, a.IncidentID, "action", herald.EngineActor, line, now); err != nil {
			return err
		}
		_, err = s.writeDeliveries(ctx, tx, a.IncidentID, "", ds, now)
		return err
	})
	return claimed, err
}

// SetRestored records when service was restored: the end of the RTO clock.
func (s *Store) SetRestored(ctx context.Context, id string, version int, at time.Time, actor string) (herald.Incident, error) {
	return s.withIncident(ctx, id, version, actor, func(tx *sql.Tx, in *herald.Incident, _ map[string]herald.Component, now time.Time) error {
		at = at.UTC().Truncate(time.Second)
		switch {
		case at.After(now.Add(time.Minute)):
			return &herald.ValidationError{Field: "restored_at", Problem: "is in the future"}
		case at.Before(in.CreatedAt.Truncate(time.Minute)):
			return &herald.ValidationError{Field: "restored_at", Problem: "is before the incident was declared"}
		case at.Before(in.CreatedAt):
			at = in.CreatedAt // the form's minute holds the declaration
		}
		in.RestoredAt = &at
		in.RestoredBy = actor
		in.UpdatedAt = now
		return s.timeline(ctx, tx, id, "rto", actor, fmt.Sprintf("Service restored at %s UTC: RTO %s",
			at.Format("2006-01-02 15:04"), herald.HumanDuration(at.Sub(in.CreatedAt).Round(time.Minute))), now)
	})
}

// ReportDataLoss records the data loss an action's automation measured.
func (s *Store) ReportDataLoss(ctx context.Context, id string, loss time.Duration, source string) (herald.Incident, error) {
	return s.withIncident(ctx, id, 0, source, func(tx *sql.Tx, in *herald.Incident, _ map[string]herald.Component, now time.Time) error {
		in.DataLoss = &loss
		in.DataLossSource = source
		in.UpdatedAt = now
		return s.timeline(ctx, tx, id, "data_loss", source, "Data loss reported: "+herald.HumanDuration(loss), now)
	})
}

// UseNonce records an automation callback's nonce; false when it was seen
// before (a replay).
func (s *Store) UseNonce(ctx context.Context, nonce, actionID string) (bool, error) {
	fresh := false
	err := s.transact(ctx, false, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO automation_nonces (nonce, action_id, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (nonce) DO NOTHING`), nonce, actionID, s.Now())
		if err != nil {
			return fmt.Errorf("store: nonce: %w", err)
		}
		n, _ := res.RowsAffected()
		fresh = n == 1
		return nil
	})
	return fresh, err
}

// PendingActions lists the actions waiting on a person: for an approval,
// or approved and waiting for their executor.
func (s *Store) PendingActions(ctx context.Context) ([]herald.Action, error) {
	return s.queryActions(ctx, s.db, `state IN ('awaiting_approval', 'approved')`)
}
