package components

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/kredete/herald"
)

// ActionView is one failover action with its procedure, for the incident
// page's actions panel.
type ActionView struct {
	Action     herald.Action
	Procedure  herald.Procedure
	Automation []herald.Delivery // the calls to its automation endpoint, newest first
}

// ActionForm keeps what was typed in the start-an-action form.
type ActionForm struct {
	Procedure string
	Reason    string
}

// RunbookView is one procedure of the failover catalogue.
type RunbookView struct {
	Console   Console
	Procedure herald.Procedure
	Catalogue []herald.Procedure
}

// ActionErrKey is where an action form's field error lives in the page's
// error map; an empty field is the action's own refusal.
func ActionErrKey(actionID, field string) string {
	if field == "" {
		return "action:" + actionID
	}
	return "action:" + actionID + ":" + field
}

func procedureRef(p herald.Procedure) string { return string(p.Kind) + ":" + p.Key }

func runbookURL(kind herald.ProcedureKind, key string) string {
	return "/console/runbooks/" + string(kind) + "/" + key
}

func actionURL(a herald.Action) string { return "/console/actions/" + a.ID }

func stepURL(a herald.Action, st herald.ActionStep) string {
	return fmt.Sprintf("/console/actions/%s/steps/%d", a.ID, st.Position)
}

func actionStateClass(s herald.ActionState) string {
	switch s {
	case herald.ActionAwaitingApproval, herald.ActionApproved:
		return "action-state waiting"
	case herald.ActionRunning:
		return "action-state running"
	case herald.ActionCompleted:
		return "action-state ok"
	}
	return "action-state bad"
}

func stepStateLabel(s herald.StepState) string {
	return map[herald.StepState]string{herald.StepPending: "Pending", herald.StepRunning: "Running", herald.StepDone: "Done",
		herald.StepFailed: "Failed", herald.StepSkipped: "Skipped"}[s]
}

// windowText is the step's expected window, "2–5 min" or "by 1 h 30 min".
func windowText(st herald.ActionStep) string {
	if st.WindowEnd <= 0 {
		return "—"
	}
	if st.WindowStart > 0 {
		return shortWindow(st.WindowStart) + "–" + shortWindow(st.WindowEnd)
	}
	return "by " + herald.HumanDuration(st.WindowEnd)
}

func shortWindow(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d h", d/time.Hour)
	}
	return fmt.Sprintf("%d min", d/time.Minute)
}

// canDecide: the user holds the approver role of a gated action awaiting
// its decision and did not ask for it.
func canDecide(c Console, v ActionView) bool {
	return v.Action.State == herald.ActionAwaitingApproval && v.Procedure.Gated() && c.User.Role == v.Procedure.ApproverRole &&
		c.User.ID != v.Action.RequestedBy.ID
}

func canExecute(c Console, v ActionView) bool {
	return v.Action.State == herald.ActionApproved && v.Procedure.CanExecute(c.User)
}

func canRunSteps(c Console, v ActionView) bool {
	return v.Action.State == herald.ActionRunning && v.Procedure.CanExecute(c.User)
}

// nextStates are the buttons a step offers: what it may become next.
func nextStates(a herald.Action, st herald.ActionStep) []herald.StepState {
	switch st.State {
	case herald.StepPending:
		return []herald.StepState{herald.StepRunning, herald.StepDone, herald.StepSkipped}
	case herald.StepRunning:
		return []herald.StepState{herald.StepDone, herald.StepFailed}
	case herald.StepFailed:
		return []herald.StepState{herald.StepRunning, herald.StepSkipped}
	}
	return nil
}

func stepButton(s herald.StepState) string {
	return map[herald.StepState]string{herald.StepRunning: "Start", herald.StepDone: "Done", herald.StepFailed: "Failed",
		herald.StepSkipped: "Skip"}[s]
}

// approverWaiting says who must act on a gated action.
func approverWaiting(v ActionView) string {
	switch v.Action.State {
	case herald.ActionAwaitingApproval:
		return "Waiting for the " + v.Procedure.ApproverRole.Label() + " to approve. The requester cannot approve their own request."
	case herald.ActionApproved:
		who := "commander"
		if v.Procedure.ExecutorRole != "" {
			who = v.Procedure.ExecutorRole.Label()
		}
		return "Approved. Waiting for the " + who + " to start it."
	}
	return ""
}

func lines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }

func optionalTime(t *time.Time, loc *time.Location) string {
	if t == nil {
		return "—"
	}
	return formatTime(*t, loc)
}

func lagNeeded(p herald.Procedure) bool { return p.MaxReplicationLag > 0 }

func lagMax(p herald.Procedure) string {
	return fmt.Sprint(int(p.MaxReplicationLag / time.Millisecond))
}

func actionErr(errs map[string]string, actionID, field string) (string, bool) {
	m, ok := errs[ActionErrKey(actionID, field)]
	return m, ok
}

func actionErrAttrs(errs map[string]string, actionID, field string) templ.Attributes {
	k := ActionErrKey(actionID, field)
	if _, ok := errs[k]; !ok {
		return nil
	}
	return templ.Attributes{"aria-describedby": errID(strings.ReplaceAll(k, ":", "-")), "aria-invalid": "true"}
}

func actionErrID(actionID, field string) string {
	return errID(strings.ReplaceAll(ActionErrKey(actionID, field), ":", "-"))
}

func zoneAbbrev(t time.Time, loc *time.Location) string {
	name, _ := t.In(loc).Zone()
	return name
}

func restoredValue(v IncidentConsoleView) string {
	t := v.Now
	if v.Incident.RestoredAt != nil {
		t = *v.Incident.RestoredAt
	}
	return t.In(v.Console.Site.Location).Format("2006-01-02T15:04")
}

func orDashStr(s string) string {
	if s == "" {
		return "status unknown"
	}
	return s
}

func pagerDutyDirection(l herald.PagerDutyLink) string {
	if l.Direction == "out" {
		return "paged by Herald, "
	}
	return "from PagerDuty, "
}

func pagedText(d herald.Delivery) string {
	what := "Herald paged PagerDuty"
	if d.Kind == herald.KindPageResolve {
		what = "Herald resolved its PagerDuty page"
	}
	switch d.State {
	case herald.DeliverySent:
		return what + " (dedup key " + d.ProviderID + ")"
	case herald.DeliveryFailed:
		return what + ": failed: " + d.LastError
	}
	return what + ": " + string(d.State)
}

func reportComponents(r herald.Report) string {
	var names []string
	for _, id := range r.Incident.ComponentIDs {
		if c, ok := r.Components[id]; ok {
			names = append(names, c.Name)
		}
	}
	if len(names) == 0 {
		return "—"
	}
	return strings.Join(names, ", ")
}

func rtoVerdict(r herald.Report) string {
	_, s := r.RTOVerdict()
	return s
}

func audienceName(p herald.Plan, key string) string {
	if a, ok := p.AudienceByKey(key); ok {
		return a.Name
	}
	return key
}

func optText(sep, s string) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return sep + strings.Join(strings.Fields(s), " ")
}

func decisionWord(a herald.Action) string {
	if a.State == herald.ActionRefused {
		return "Refused"
	}
	return "Approved"
}

// reportUpdates lists the public updates oldest first.
func reportUpdates(r herald.Report) []herald.Update {
	ups := append([]herald.Update(nil), r.Incident.Updates...)
	slices.SortStableFunc(ups, func(a, b herald.Update) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return ups
}

// historyRTO is a resolved incident's recovery time against the target,
// in words (never by colour alone).
func historyRTO(in herald.Incident, o herald.Objectives, now time.Time) string {
	d, state := in.RTO(now)
	s := herald.HumanDuration(d)
	if state == herald.RTOResolved {
		s += " (to resolution)"
	}
	if d > o.RTO {
		return s + ": over target"
	}
	return s + ": met"
}

func historyRTOMissed(in herald.Incident, o herald.Objectives, now time.Time) bool {
	d, _ := in.RTO(now)
	return d > o.RTO
}

func historyRPO(in herald.Incident, o herald.Objectives) string {
	if in.DataLoss == nil {
		return "not recorded"
	}
	s := herald.HumanDuration(*in.DataLoss)
	if *in.DataLoss >= o.RPO {
		return s + ": over target"
	}
	return s + ": met"
}

// deliveryRecipient is where a delivery goes, as the log shows it: an
// automation endpoint by its host only, since its path or query may carry
// a token.
func deliveryRecipient(d herald.Delivery) string {
	if d.Channel == herald.ChannelAutomation {
		return herald.EndpointHost(d.Recipient)
	}
	return d.Recipient
}
