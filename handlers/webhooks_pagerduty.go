package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kredete/herald"
)

// PagerDutyWebhook verifies and reads one PagerDuty webhook (v3). An error
// wrapping ErrBadSignature is a forgery (401); any other error a malformed
// payload (400). main builds it from comms/pagerduty.
type PagerDutyWebhook func(r *http.Request) (herald.PagerDutyEvent, error)

// PagerDutyEvents stores an accepted event and queues its processing.
type PagerDutyEvents interface {
	RecordPagerDutyEvent(ctx context.Context, ev herald.PagerDutyEvent) (bool, error)
}

// pagerDutyWebhook receives PagerDuty's webhooks: verified, stored once
// (a redelivery is acknowledged and ignored) and queued, so PagerDuty gets
// its answer well within its 5 seconds.
func (s *Server) pagerDutyWebhook(w http.ResponseWriter, r *http.Request) error {
	if s.pdWebhook == nil || s.pdEvents == nil {
		writeJSONError(w, http.StatusNotFound, "PagerDuty webhooks are not configured on this Herald", nil)
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	ev, err := s.pdWebhook(r)
	if errors.Is(err, ErrBadSignature) || errors.Is(err, herald.ErrBadSignature) {
		s.log.Warn("pagerduty webhook refused", "reason", err.Error())
		writeJSONError(w, http.StatusUnauthorized, "the request is not signed by PagerDuty", nil)
		return nil
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error(), nil)
		return nil
	}
	fresh, err := s.pdEvents.RecordPagerDutyEvent(r.Context(), ev)
	if err != nil {
		return err
	}
	if !fresh {
		s.log.Info("pagerduty webhook redelivered; ignored", "event_id", ev.ID, "event_type", ev.Type)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// maxLossSeconds bounds a reported data loss (1000 days).
const maxLossSeconds = 1000 * 24 * 3600

// AutomationStore is what the automation callback API needs.
type AutomationStore interface {
	Incident(ctx context.Context, id string) (herald.Incident, error)
	Action(ctx context.Context, id string) (herald.Action, error)
	UseNonce(ctx context.Context, nonce, actionID string) (bool, error)
	SetActionStep(ctx context.Context, id string, version int, p herald.Procedure, c herald.StepChange, by *herald.User) (herald.Action, error)
	SetRestored(ctx context.Context, id string, version int, at time.Time, actor string) (herald.Incident, error)
	ReportDataLoss(ctx context.Context, id string, loss time.Duration, source string) (herald.Incident, error)
}

// automationReport is what an automation posts back: a step's progress,
// and optionally the restore time and data loss it measured.
type automationReport struct {
	// ActionID must name the action of the URL: it is signed with the
	// body, so a captured report cannot be pointed at another action.
	ActionID string `json:"action_id"`
	Step     *struct {
		Position int    `json:"position"`
		State    string `json:"state"`
		Note     string `json:"note"`
		At       string `json:"at"`
	} `json:"step"`
	RestoredAt      string `json:"restored_at"`
	DataLossSeconds *int64 `json:"data_loss_seconds"`
}

// automationChange is an automation's report, read and checked: what it
// changes.
type automationChange struct {
	ActionID string
	Step     *herald.StepChange // nil: no step reported
	Restored time.Time          // zero: not reported
	Loss     *time.Duration     // nil: not reported
}

// readAutomationReport reads and checks an automation's report on its own,
// before anything is looked up: its error is the 400 answer, naming the
// field.
func readAutomationReport(body []byte) (automationChange, error) {
	var rep automationReport
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		return automationChange{}, errors.New("the body is not a report: " + err.Error())
	}
	if rep.Step == nil && rep.RestoredAt == "" && rep.DataLossSeconds == nil {
		return automationChange{}, errors.New("the report is empty: send step, restored_at or data_loss_seconds")
	}
	c := automationChange{ActionID: rep.ActionID}
	if rep.Step != nil {
		st, err := herald.ParseStepState(rep.Step.State)
		if err != nil {
			return automationChange{}, errors.New("step.state: " + err.(*herald.ValidationError).Problem)
		}
		c.Step = &herald.StepChange{Position: rep.Step.Position, State: st, Note: rep.Step.Note}
		if rep.Step.At != "" {
			if c.Step.At, err = time.Parse(time.RFC3339, rep.Step.At); err != nil {
				return automationChange{}, errors.New("step.at: not an RFC 3339 time")
			}
		}
	}
	if rep.RestoredAt != "" {
		var err error
		if c.Restored, err = time.Parse(time.RFC3339, rep.RestoredAt); err != nil {
			return automationChange{}, errors.New("restored_at: not an RFC 3339 time")
		}
	}
	if rep.DataLossSeconds != nil {
		if *rep.DataLossSeconds < 0 || *rep.DataLossSeconds > maxLossSeconds {
			return automationChange{}, errors.New("data_loss_seconds: must be from 0 to 1000 days")
		}
		loss := time.Duration(*rep.DataLossSeconds) * time.Second
		c.Loss = &loss
	}
	return c, nil
}

// automationCallback takes an automation's signed report on its action:
// refused 401 when unsigned, wrongly signed, outside the replay window or
// replayed; 400 for a malformed body; 409 for a step change the action's
// state does not allow. Nothing is stored unless everything passes.
func (s *Server) automationCallback(w http.ResponseWriter, r *http.Request) error {
	if len(s.automationSecrets) == 0 || s.automation == nil {
		writeJSONError(w, http.StatusNotFound, "automation callbacks are not configured on this Herald", nil)
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		return err
	}
	sig, err := herald.VerifyAutomation(s.automationSecrets, r.Header.Get(herald.AutomationSignatureHeader),
		r.Header.Get(herald.AutomationTimestampHeader), body, s.now())
	if err != nil {
		s.log.Warn("automation callback refused", "reason", err.Error())
		writeJSONError(w, http.StatusUnauthorized, err.Error(), nil)
		return nil
	}
	rep, err := readAutomationReport(body)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error(), nil)
		return nil
	}
	if rep.ActionID != r.PathValue("id") {
		writeJSONError(w, http.StatusBadRequest, "action_id: must name the action of the URL", nil)
		return nil
	}
	ctx := r.Context()
	a, err := s.automation.Action(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if a.AutomationURL == "" {
		writeJSONError(w, http.StatusForbidden, "this action has no automation; its steps are moved in the console", nil)
		return nil
	}
	if a.State != herald.ActionRunning && a.State != herald.ActionCompleted {
		writeJSONError(w, http.StatusConflict, "the action is "+strings.ToLower(a.State.Label())+"; it reports nothing until it runs", nil)
		return nil
	}
	p, ok := s.plan.Procedure(a.Kind, a.Key)
	if !ok {
		writeJSONError(w, http.StatusConflict, "the action's procedure is no longer in the catalogue", nil)
		return nil
	}
	// The signature is the nonce: the same signed report twice is a replay,
	// refused before the report is checked against the steps.
	fresh, err := s.automation.UseNonce(ctx, sig, a.ID)
	if err != nil {
		return err
	}
	if !fresh {
		writeJSONError(w, http.StatusUnauthorized, "this report was received before (replay refused)", nil)
		return nil
	}
	// Check every part before storing any, so a report is applied whole
	// or not at all.
	now := s.now()
	if rep.Step != nil {
		trial := a
		trial.Steps = append([]herald.ActionStep(nil), a.Steps...)
		if _, err := trial.SetStep(p, *rep.Step, nil, now); err != nil {
			return err
		}
	}
	restored := rep.Restored
	if !restored.IsZero() {
		in, err := s.automation.Incident(ctx, a.IncidentID)
		if err != nil {
			return err
		}
		if restored.After(now.Add(time.Minute)) || restored.Before(in.CreatedAt.Truncate(time.Minute)) {
			writeJSONError(w, http.StatusUnprocessableEntity, "restored_at: must be between the declaration and now", nil)
			return nil
		}
	}
	source := "automation of " + a.Name
	if rep.Step != nil {
		if a, err = s.automation.SetActionStep(ctx, a.ID, 0, p, *rep.Step, nil); err != nil {
			return err
		}
	}
	if !restored.IsZero() {
		if _, err := s.automation.SetRestored(ctx, a.IncidentID, 0, restored, source); err != nil {
			return err
		}
	}
	if rep.Loss != nil {
		if _, err := s.automation.ReportDataLoss(ctx, a.IncidentID, *rep.Loss, source); err != nil {
			return err
		}
	}
	s.refresh(ctx)
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(map[string]any{"action_id": a.ID, "state": a.State, "version": strconv.Itoa(a.Version)})
}
