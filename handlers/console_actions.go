package handlers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
)

// FailoverStore is what the failover actions, the RTO and PagerDuty's
// links need from the store.
type FailoverStore interface {
	Actions(ctx context.Context, incidentID string) ([]herald.Action, error)
	Action(ctx context.Context, id string) (herald.Action, error)
	RequestAction(ctx context.Context, incidentID string, p herald.Procedure, req herald.ActionRequest, by herald.User) (herald.Action, error)
	DecideAction(ctx context.Context, id string, version int, p herald.Procedure, approve bool, by herald.User, note string) (herald.Action, error)
	ExecuteAction(ctx context.Context, id string, version int, p herald.Procedure, by herald.User, lag *time.Duration) (herald.Action, error)
	SetActionStep(ctx context.Context, id string, version int, p herald.Procedure, c herald.StepChange, by *herald.User) (herald.Action, error)
	CancelAction(ctx context.Context, id string, version int, by herald.User, reason string) (herald.Action, error)
	FailAction(ctx context.Context, id string, version int, p herald.Procedure, by herald.User, reason string) (herald.Action, error)
	SetRestored(ctx context.Context, id string, version int, at time.Time, actor string) (herald.Incident, error)
	PagerDutyLinks(ctx context.Context, incidentID string) ([]herald.PagerDutyLink, error)
}

// actionErrKey is where an action form's field error is kept in the page's
// error map, so it shows next to that action's field.
func actionErrKey(actionID, field string) string { return components.ActionErrKey(actionID, field) }

// requestAction starts a procedure of the catalogue for the incident.
func (s *Server) requestAction(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	incidentID := r.PathValue("id")
	kind, key, _ := herald.ParseProcedureRef(r.PostFormValue("procedure"))
	p, ok := s.plan.Procedure(kind, key)
	var err error
	if !ok {
		err = &herald.ValidationError{Field: "procedure", Problem: "choose a procedure of the failover catalogue"}
	} else {
		_, err = s.console.RequestAction(r.Context(), incidentID, p,
			herald.ActionRequest{Kind: kind, Key: key, Reason: r.PostFormValue("reason")}, currentUser(r.Context()))
	}
	msg := "Failover action started."
	if ok && p.Gated() {
		msg = "Failover action requested: it waits for the " + p.ApproverRole.Label() + "."
	}
	if fe := formErrors(err); fe != nil {
		errs := map[string]string{}
		for k, m := range fe {
			errs["action-"+k] = m
		}
		return s.renderIncidentErrors(w, r, incidentID, errs, http.StatusUnprocessableEntity)
	}
	return s.afterAction(w, r, incidentID, "", err, msg)
}

// actionFor loads the action of the URL and its procedure.
func (s *Server) actionFor(r *http.Request) (herald.Action, herald.Procedure, error) {
	a, err := s.console.Action(r.Context(), r.PathValue("id"))
	if err != nil {
		return a, herald.Procedure{}, err
	}
	p, ok := s.plan.Procedure(a.Kind, a.Key)
	if !ok {
		return a, p, &httpError{http.StatusConflict, "the procedure " + string(a.Kind) + ":" + a.Key +
			" is no longer in the failover catalogue; this action can only be cancelled"}
	}
	return a, p, nil
}

func (s *Server) decideAction(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	a, p, err := s.actionFor(r)
	if err != nil {
		return err
	}
	approve := r.PostFormValue("decision") == "approve"
	if d := r.PostFormValue("decision"); d != "approve" && d != "refuse" {
		return badRequest("decision must be approve or refuse")
	}
	_, err = s.console.DecideAction(r.Context(), a.ID, formVersion(r), p, approve, currentUser(r.Context()), r.PostFormValue("note"))
	msg := "Refused."
	if approve {
		msg = "Approved: the " + p.ExecutorLabel() + " may start it."
		if a.AutomationURL != "" {
			msg = "Approved: the automation is called now."
		}
	}
	return s.afterAction(w, r, a.IncidentID, a.ID, err, msg)
}

func (s *Server) executeAction(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	a, p, err := s.actionFor(r)
	if err != nil {
		return err
	}
	var lag *time.Duration
	if v := strings.TrimSpace(r.PostFormValue("replication_lag_ms")); v != "" {
		ms, perr := strconv.Atoi(v)
		if perr != nil || ms > 86_400_000 {
			return s.afterAction(w, r, a.IncidentID, a.ID, &herald.ValidationError{Field: "replication_lag_ms",
				Problem: "must be a whole number of milliseconds, at most a day"}, "")
		}
		d := time.Duration(ms) * time.Millisecond
		lag = &d
	}
	_, err = s.console.ExecuteAction(r.Context(), a.ID, formVersion(r), p, currentUser(r.Context()), lag)
	return s.afterAction(w, r, a.IncidentID, a.ID, err, "Execution started: follow the steps below.")
}

func (s *Server) actionStep(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	a, p, err := s.actionFor(r)
	if err != nil {
		return err
	}
	pos, perr := strconv.Atoi(r.PathValue("pos"))
	if perr != nil {
		return notFound("no such step: " + r.PathValue("pos"))
	}
	st, err := herald.ParseStepState(r.PostFormValue("state"))
	if err != nil {
		return badRequest("state must be one of running, done, failed, skipped")
	}
	u := currentUser(r.Context())
	_, err = s.console.SetActionStep(r.Context(), a.ID, formVersion(r), p,
		herald.StepChange{Position: pos, State: st, Note: r.PostFormValue("note")}, &u)
	var ve *herald.ValidationError
	if errors.As(err, &ve) {
		ve.Field = "step-" + strconv.Itoa(pos) + "-" + ve.Field
	}
	return s.afterAction(w, r, a.IncidentID, a.ID, err, "Step "+strconv.Itoa(pos)+" is "+string(st)+".")
}

func (s *Server) cancelAction(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	a, err := s.console.Action(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	_, err = s.console.CancelAction(r.Context(), a.ID, formVersion(r), currentUser(r.Context()), r.PostFormValue("reason"))
	return s.afterAction(w, r, a.IncidentID, a.ID, err, "Cancelled.")
}

func (s *Server) failAction(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	a, p, err := s.actionFor(r)
	if err != nil {
		return err
	}
	_, err = s.console.FailAction(r.Context(), a.ID, formVersion(r), p, currentUser(r.Context()), r.PostFormValue("failure"))
	var ve *herald.ValidationError
	if errors.As(err, &ve) {
		ve.Field = "failure"
	}
	return s.afterAction(w, r, a.IncidentID, a.ID, err, "Marked failed.")
}

// afterAction answers an action's form: back to the incident's actions on
// success; the incident page with the error next to the action's field
// (422), or the refusal (409 for a transition, 403 for a role) otherwise.
func (s *Server) afterAction(w http.ResponseWriter, r *http.Request, incidentID, actionID string, err error, ok string) error {
	if err == nil {
		s.refresh(r.Context())
		s.flash(r, ok)
		http.Redirect(w, r, "/console/incidents/"+incidentID+"#actions", http.StatusSeeOther)
		return nil
	}
	if errors.Is(err, herald.ErrForbidden) || errors.Is(err, herald.ErrNotFound) {
		return err
	}
	fe := formErrors(err)
	status := http.StatusUnprocessableEntity
	errs := map[string]string{}
	for k, m := range fe {
		errs[actionErrKey(actionID, k)] = m
	}
	if fe == nil {
		if !errors.Is(err, herald.ErrInvalidTransition) && !errors.Is(err, herald.ErrConflict) && !errors.Is(err, herald.ErrClosed) {
			return err
		}
		status = http.StatusConflict
		errs[actionErrKey(actionID, "")] = trimPrefix(err)
	}
	return s.renderIncidentErrors(w, r, incidentID, errs, status)
}

// renderIncidentErrors shows the incident page with field errors.
func (s *Server) renderIncidentErrors(w http.ResponseWriter, r *http.Request, incidentID string, errs map[string]string, status int) error {
	r.SetPathValue("id", incidentID)
	v, err := s.incidentView(r, nil)
	if err != nil {
		return err
	}
	for k, m := range errs {
		v.Errors[k] = m
	}
	v.ActionForm = components.ActionForm{Procedure: r.PostFormValue("procedure"), Reason: r.PostFormValue("reason")}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	return components.IncidentConsole(v).Render(r.Context(), w)
}

// setRestored records when service was restored: the end of the RTO clock.
func (s *Server) setRestored(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	at, perr := parseLocalTime(r.PostFormValue("restored_at"), s.loc)
	var err error
	if perr != nil {
		err = &herald.ValidationError{Field: "restored_at", Problem: "enter a date and time, e.g. " + s.now().In(s.loc).Format(datetimeLocal)}
	} else {
		_, err = s.console.SetRestored(r.Context(), r.PathValue("id"), formVersion(r), at, actorName(currentUser(r.Context())))
	}
	return s.afterIncidentWrite(w, r, err, nil, "Restore time saved: the RTO clock stops there.")
}

// runbookPage renders one procedure of the catalogue.
func (s *Server) runbookPage(w http.ResponseWriter, r *http.Request) error {
	p, ok := s.plan.Procedure(herald.ProcedureKind(r.PathValue("kind")), r.PathValue("key"))
	if !ok {
		return notFound("there is no procedure " + r.PathValue("kind") + ":" + r.PathValue("key") + " in the failover catalogue")
	}
	s.render(w, r, components.RunbookPage(components.RunbookView{Console: s.consoleFrame(r, p.Name, "runbooks"), Procedure: p,
		Catalogue: s.plan.Procedures()}))
	return nil
}

// actionViews pairs each action with its procedure and what the page needs
// to decide which forms to show.
func (s *Server) actionViews(actions []herald.Action, deliveries []herald.Delivery) []components.ActionView {
	out := make([]components.ActionView, 0, len(actions))
	for _, a := range actions {
		p, _ := s.plan.Procedure(a.Kind, a.Key)
		v := components.ActionView{Action: a, Procedure: p}
		for _, d := range deliveries {
			if d.Kind == herald.KindAutomation && strings.HasPrefix(d.Key, a.ID+"/") {
				v.Automation = append(v.Automation, d)
			}
		}
		out = append(out, v)
	}
	return out
}

// runbookIndex shows the catalogue's first procedure with the index.
func (s *Server) runbookIndex(w http.ResponseWriter, r *http.Request) error {
	all := s.plan.Procedures()
	if len(all) == 0 {
		return notFound("the failover catalogue is empty")
	}
	s.render(w, r, components.RunbookPage(components.RunbookView{Console: s.consoleFrame(r, "Failover catalogue", "runbooks"),
		Procedure: all[0], Catalogue: all}))
	return nil
}

// report gathers an incident's post-incident record.
func (s *Server) report(r *http.Request) (herald.Report, error) {
	ctx := r.Context()
	id := r.PathValue("id")
	in, err := s.console.Incident(ctx, id)
	if err != nil {
		return herald.Report{}, err
	}
	rep := herald.Report{Plan: s.plan, Incident: in, GeneratedAt: s.now(), Location: s.loc, Roles: map[herald.IncidentRole]string{}}
	comps, err := s.console.Components(ctx)
	if err != nil {
		return rep, err
	}
	rep.Components = map[string]herald.Component{}
	for _, c := range comps {
		rep.Components[c.ID] = c
	}
	seats, err := s.console.Assignments(ctx, id)
	if err != nil {
		return rep, err
	}
	for seat, a := range seats {
		rep.Roles[seat] = a.UserName
	}
	if rep.Timeline, err = s.console.Timeline(ctx, id, ""); err != nil {
		return rep, err
	}
	slices.Reverse(rep.Timeline)
	if rep.Communications, err = s.console.Communications(ctx, []string{id}); err != nil {
		return rep, err
	}
	slices.SortStableFunc(rep.Communications, func(a, b herald.Communication) int { return a.CreatedAt.Compare(b.CreatedAt) })
	if rep.Deliveries, err = s.console.Deliveries(ctx, id, boardDeliveries); err != nil {
		return rep, err
	}
	if rep.Reports, err = s.console.RegulatorReports(ctx, []string{id}); err != nil {
		return rep, err
	}
	if rep.Actions, err = s.console.Actions(ctx, id); err != nil {
		return rep, err
	}
	if rep.PagerDuty, err = s.console.PagerDutyLinks(ctx, id); err != nil {
		return rep, err
	}
	rep.Compliance = herald.Compliance(s.plan, in, rep.Communications, rep.Reports, rep.Deliveries, rep.GeneratedAt)
	return rep, nil
}

// reportMarkdown exports the post-incident report as Markdown.
func (s *Server) reportMarkdown(w http.ResponseWriter, r *http.Request) error {
	rep, err := s.report(r)
	if err != nil {
		return err
	}
	name := "incident-" + rep.Incident.ID + "-report.md"
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	_, err = io.WriteString(w, rep.Markdown())
	return err
}

// reportPage is the printable post-incident report.
func (s *Server) reportPage(w http.ResponseWriter, r *http.Request) error {
	rep, err := s.report(r)
	if err != nil {
		return err
	}
	s.render(w, r, components.ReportPage(components.ReportView{Console: s.consoleFrame(r, "Report: "+rep.Incident.Name, "incidents"),
		Report: rep}))
	return nil
}
