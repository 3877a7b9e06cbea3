package components

import (
	"fmt"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/kredete/herald"
)

// Console is what every console page shares.
type Console struct {
	Site   Site
	JS     string // console.js: countdowns
	User   herald.User
	Title  string
	Nav    string // which nav item is current
	Flash  string // a one-off message after a redirect
	Banner string // a standing warning, e.g. the snapshot is old
	// Outage is set while Herald cannot reach its database: every page
	// says so in a banner.
	Outage *Outage
	// Obligations are what the open incidents owe soon or overdue, shown
	// on every page (the strip refreshes live and counts down).
	Obligations []ObligationItem
	// Version is the data version the page was rendered from: the event
	// stream only announces newer ones, so a page does not refetch itself
	// on load.
	Version int64
}

// Can reports whether the signed-in user holds the permission.
func (c Console) Can(p herald.Permission) bool { return c.User.Role.Can(p) }

// SignInView is the sign-in page.
type SignInView struct {
	Site  Site
	Email string
	Next  string
	Error string
	// Outage is set while Herald cannot reach its database: signing in
	// needs it.
	Outage *Outage
}

// IncidentRow is one line of the incident list.
type IncidentRow struct {
	Incident   herald.Incident
	Commander  string
	Components string
	Clocks     []herald.Clock
}

// IncidentListView is the console's home.
type IncidentListView struct {
	Console  Console
	Active   []IncidentRow
	Resolved []IncidentRow
	Query    string
	Now      time.Time
	// Exercises are the DR exercises overdue or never run: a warning
	// line each.
	Exercises []herald.ExerciseRow
	// Objectives are the plan's RTO and RPO, against which the resolved
	// incidents' recovery is shown.
	Objectives herald.Objectives
}

// DeclareForm holds what was typed into the declare form.
type DeclareForm struct {
	Name        string
	Impact      string
	Body        string
	CommanderID string
	Regulators  bool
	Statuses    map[string]string // component id → status; "" not affected
}

// DeclareView is the declare form.
type DeclareView struct {
	Console    Console
	Form       DeclareForm
	Errors     map[string]string
	Components []herald.Component
	Users      []herald.User
	// RegulatorsFor are the impacts at which the plan always requires
	// regulator notification.
	RegulatorsFor []herald.Impact
}

func impactList(imps []herald.Impact) string {
	var out []string
	for _, i := range imps {
		out = append(out, strings.ToLower(i.Label()))
	}
	return strings.Join(out, " or ")
}

// AudiencePreview is one audience's column in the composer.
type AudiencePreview struct {
	Audience   herald.Audience
	Text       string
	OwnText    bool // edited separately; else follows the main text
	Ticked     bool
	Applies    bool
	SMS        bool
	SMSChars   int
	SMSParts   int
	SMSUnicode bool
}

// ComposerView is the one composer for every audience.
type ComposerView struct {
	IncidentID string
	Version    int
	Status     string
	Impact     string
	Main       string
	Previews   []AudiencePreview
	Templates  []herald.Template
	Errors     map[string]string
	Statuses   []herald.Status
	NextUpdate string
}

// IncidentConsoleView is an incident's page in the console.
type IncidentConsoleView struct {
	Console     Console
	Incident    herald.Incident
	Components  []herald.Component
	Assignments map[herald.IncidentRole]herald.Assignment
	Users       []herald.User
	Clocks      []herald.Clock
	Timeline    []herald.TimelineEvent
	Filter      string
	Objectives  herald.Objectives
	DataLoss    *time.Duration
	Composer    ComposerView
	Now         time.Time
	Audit       []herald.AuditEntry // the incident's audit trail, for roles that may read it
	Stale       string              // set when an edit lost a race
	Errors      map[string]string
	Deliveries  []herald.Delivery // newest first, the latest logDeliveries
	// DeliveryTotal counts all the incident's deliveries; Deliveries may
	// hold only the latest.
	DeliveryTotal int
	Failed        int // deliveries given up or reported undelivered, of all
	Compliance    []herald.ComplianceRow
	Reports       []herald.RegulatorReport
	Regulators    *herald.Audience // the plan's regulator audience, if any
	RegulatorForm RegulatorForm
	Drill         DrillPanel // a drill's exercise: recorded, or the form to record it
	Actions       []ActionView
	Procedures    []herald.Procedure // what the start-an-action form offers
	ActionForm    ActionForm
	PagerDuty     []herald.PagerDutyLink
	// PagerDutyPaged is Herald's own page to PagerDuty (its trigger and
	// resolve deliveries), newest first.
	PagerDutyPaged []herald.Delivery
}

// RegulatorForm is the form recording a call to the regulator.
type RegulatorForm struct {
	Step, CalledBy, Whom, At, Reference, Notes string
}

// ObligationItem is one line of the console's obligations strip: an
// audience owed something soon, or overdue, for one incident.
type ObligationItem struct {
	IncidentID   string
	IncidentName string
	What         string    // "Partners and clients update"
	Due          time.Time // when it is due
	ShowFrom     time.Time // the strip shows it from this time (the first reminder)
	Hidden       bool      // not yet: ShowFrom is ahead (console.js reveals it then)
	Overdue      bool
}

// FailedCount counts the deliveries given up, and the texts Twilio accepted
// but could not hand over.
func FailedCount(ds []herald.Delivery) int {
	n := 0
	for _, d := range ds {
		// A text Twilio accepted and later could not hand over counts too.
		if d.State == herald.DeliveryFailed || d.ProviderStatus == "undelivered" || d.ProviderStatus == "failed" {
			n++
		}
	}
	return n
}

func deliveryStateLabel(s herald.DeliveryState) string {
	switch s {
	case herald.DeliveryQueued:
		return "Queued"
	case herald.DeliverySending:
		return "Sending"
	case herald.DeliverySent:
		return "Sent"
	case herald.DeliveryRetrying:
		return "Retrying"
	case herald.DeliveryFailed:
		return "Failed"
	case herald.DeliverySkipped:
		return "Skipped"
	}
	return string(s)
}

func channelLabel(c herald.Channel) string {
	switch c {
	case herald.ChannelSlack:
		return "Slack"
	case herald.ChannelEmail:
		return "Email"
	case herald.ChannelSMS:
		return "SMS"
	case herald.ChannelPagerDuty:
		return "PagerDuty"
	case herald.ChannelAutomation:
		return "Automation"
	}
	return string(c)
}

// deliveryWhat says what a delivery carries, e.g. "Executive Team: update".
func deliveryWhat(d herald.Delivery) string {
	what := map[herald.DeliveryKind]string{herald.KindThread: "Thread started", herald.KindEdit: "Thread summary edited",
		herald.KindReply: "Thread reply", herald.KindMessage: "Update", herald.KindHolding: "Automatic holding update",
		herald.KindReminder: "Reminder", herald.KindFailure: "Failure report", herald.KindPageTrigger: "PagerDuty page",
		herald.KindPageResolve: "PagerDuty resolve", herald.KindAutomation: "Automation call"}[d.Kind]
	if what == "" {
		what = string(d.Kind)
	}
	if d.Kind == herald.KindAutomation || d.Kind == herald.KindPageTrigger {
		return what + ": " + d.Subject // the body is JSON or the public text
	}
	if d.Body != "" && d.Kind != herald.KindMessage && d.Kind != herald.KindHolding {
		b := []rune(d.Body)
		if len(b) > 120 {
			b = append(b[:117], '…')
		}
		what += ": " + string(b)
	}
	return what
}

// UsersView is the admin's user list.
type UsersView struct {
	Console Console
	Users   []herald.User
	Form    herald.NewUser
	Errors  map[string]string
}

// AuditView is the global audit log.
type AuditView struct {
	Console Console
	Entries []herald.AuditEntry
}

// ComponentsView lists components for editing their status.
type ComponentsView struct {
	Console    Console
	Components []herald.Component
	Groups     []GroupRow
	Errors     map[string]string // keyed "<component id>.<field>", "<group id>.<field>" or "new-group.<field>"
	NewGroup   GroupForm         // what was typed into the new group form
}

// GroupRow is one group on the components page with its members.
type GroupRow struct {
	Group   herald.ComponentGroup
	Members []herald.Component
}

// Status is the worst of the members' statuses.
func (g GroupRow) Status() herald.ComponentStatus { return herald.WorstStatus(g.Members) }

// GroupForm holds the new group form's fields.
type GroupForm struct {
	Name, Description, Position string
}

// groupName names a component's group, or "" when it has none.
func (v ComponentsView) groupName(id string) string {
	for _, g := range v.Groups {
		if g.Group.ID == id {
			return g.Group.Name
		}
	}
	return ""
}

// MaintenanceForm holds what was typed into the maintenance form.
type MaintenanceForm struct {
	Name, Body, From, Until string
	Components              map[string]bool
}

// MaintenanceView schedules a maintenance window.
type MaintenanceView struct {
	Console    Console
	Form       MaintenanceForm
	Errors     map[string]string
	Components []herald.Component
}

func age(from, now time.Time) string {
	d := now.Sub(from).Round(time.Minute)
	switch {
	case d < time.Minute:
		return "under 1 min"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// clockText is a clock's state in words, so it never depends on colour.
func clockText(c herald.Clock, now time.Time) string {
	switch {
	case !c.Applies:
		return "not required"
	case c.Cadence.Kind == herald.RealTime:
		return "every update"
	case c.NextDue == nil && c.DeadlineMet:
		return "told in time"
	case c.NextDue == nil && c.Missed > 0:
		return "done late"
	case c.NextDue == nil:
		return "nothing due"
	case c.Overdue:
		return "overdue by " + age(*c.NextDue, now)
	}
	return "due in " + untilText(*c.NextDue, now)
}

func obligationState(it ObligationItem) string {
	if it.Overdue {
		return "overdue"
	}
	return "due soon"
}

func cadenceText(c herald.Clock) string {
	if !c.Applies {
		return c.Audience.Cadence.String()
	}
	return c.Cadence.String()
}

func reminderText(c herald.Clock) string {
	var parts []string
	if c.Reminded > 0 {
		s := fmt.Sprintf("%d sent", c.Reminded)
		if c.Escalated {
			s += ", escalated"
		}
		parts = append(parts, s)
	}
	if c.Holdings > 0 {
		parts = append(parts, fmt.Sprintf("%d automatic holding update%s", c.Holdings, plural(c.Holdings)))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

func deliveryCountText(c herald.Clock) string {
	n := c.Sent
	if n.Sent+n.Pending+n.Failed == 0 {
		return "none"
	}
	s := fmt.Sprintf("%d sent", n.Sent)
	if n.Pending > 0 {
		s += fmt.Sprintf(", %d on the way", n.Pending)
	}
	if n.Failed > 0 {
		s += fmt.Sprintf(", %d failed", n.Failed)
	}
	return s
}

func regulatorSteps(v IncidentConsoleView) []herald.StepRecord {
	for _, c := range v.Clocks {
		if v.Regulators != nil && c.Audience.Key == v.Regulators.Key {
			if c.Steps != nil {
				return c.Steps
			}
			// A plain "within N" deadline: one step.
			if c.NextDue != nil || c.LastTold != nil || len(v.Reports) > 0 {
				st := herald.StepRecord{Step: herald.StepDeadline}
				if c.Obligation != nil {
					st.Due, st.Missed = c.Obligation.Due, c.Overdue
				}
				for i := range v.Reports {
					if v.Reports[i].Step == herald.StepDeadline {
						st.Done = &v.Reports[i]
					}
				}
				if st.Due.IsZero() {
					for _, row := range v.Compliance {
						if row.Audience.Key == c.Audience.Key && row.Due != nil {
							st.Due, st.Missed = *row.Due, row.Verdict == herald.VerdictMissed
						}
					}
				}
				return []herald.StepRecord{st}
			}
		}
	}
	return nil
}

func gapText(r herald.ComplianceRow) string {
	switch {
	case r.Verdict == herald.VerdictNone:
		return "—"
	case r.Step != herald.StepUpdate:
		if r.Done == nil {
			return "not done"
		}
		if r.LongestGap > 0 {
			return herald.RoundDuration(r.LongestGap) + " late"
		}
		return "in time"
	case r.Interval == 0:
		if r.LongestGap == 0 {
			return "—"
		}
		return "slowest delivery " + herald.RoundDuration(r.LongestGap)
	}
	return herald.RoundDuration(r.LongestGap)
}

func verdictClass(v string) string {
	switch v {
	case herald.VerdictMet:
		return "met"
	case herald.VerdictEscalated:
		return "escalated"
	case herald.VerdictMissed:
		return "missed"
	}
	return "other"
}

func untilText(t, now time.Time) string {
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	m := int(d / time.Minute)
	s := int(d/time.Second) % 60
	if m >= 60 {
		return fmt.Sprintf("%dh %02dm", m/60, m%60)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

func clockClass(c herald.Clock) string {
	switch {
	case !c.Applies || c.NextDue == nil:
		return "clock clock-idle"
	case c.Overdue:
		return "clock clock-overdue"
	}
	return "clock clock-due"
}

func dueISO(c herald.Clock) string {
	if c.NextDue == nil {
		return ""
	}
	return isoTime(*c.NextDue)
}

func lastTold(c herald.Clock, loc *time.Location) string {
	if c.LastTold == nil {
		return "not yet"
	}
	return formatTime(*c.LastTold, loc)
}

func selected(a, b string) bool { return a == b }

func componentStatusOf(f DeclareForm, id string) string { return f.Statuses[id] }

func hasErr(errs map[string]string, field string) bool { _, ok := errs[field]; return ok }

// errAttrs ties a field to its error message when it has one. Without an
// error there is nothing to point at (a reference to a missing id is itself
// an accessibility fault), and aria-invalid must say "true": a bare
// attribute reads as false.
func errAttrs(errs map[string]string, field string) templ.Attributes {
	if !hasErr(errs, field) {
		return nil
	}
	return templ.Attributes{"aria-describedby": errID(field), "aria-invalid": "true"}
}

func errID(field string) string {
	return "err-" + strings.NewReplacer("[", "-", "]", "", ".", "-").Replace(field)
}

func rtoText(v IncidentConsoleView) string {
	d, state := v.Incident.RTO(v.Now)
	switch state {
	case herald.RTORestored:
		return "restored after " + herald.HumanDuration(d) + " (target under " + shortDuration(v.Objectives.RTO) + ")"
	case herald.RTOResolved:
		return herald.HumanDuration(d) + " to resolution, no restore time recorded (target under " + shortDuration(v.Objectives.RTO) + ")"
	}
	return age(v.Incident.CreatedAt, v.Now) + " of " + shortDuration(v.Objectives.RTO) + " so far"
}

func rtoExceeded(v IncidentConsoleView) bool {
	d, _ := v.Incident.RTO(v.Now)
	return d > v.Objectives.RTO
}

func rpoText(v IncidentConsoleView) string {
	if v.DataLoss == nil {
		return "not estimated yet"
	}
	return shortDuration(*v.DataLoss) + " of data at risk (target under " + shortDuration(v.Objectives.RPO) + ")"
}

func rpoExceeded(v IncidentConsoleView) bool {
	return v.DataLoss != nil && *v.DataLoss >= v.Objectives.RPO
}

func dataLossMinutes(v IncidentConsoleView) string {
	if v.DataLoss == nil {
		return ""
	}
	return fmt.Sprint(int(v.DataLoss.Minutes()))
}

func seatHolder(v IncidentConsoleView, seat herald.IncidentRole) string {
	if a, ok := v.Assignments[seat]; ok {
		return a.UserName
	}
	return ""
}

func seatUserID(v IncidentConsoleView, seat herald.IncidentRole) string {
	if a, ok := v.Assignments[seat]; ok {
		return a.UserID
	}
	return ""
}

func filterURL(id, kind string) string {
	if kind == "" {
		return "/console/incidents/" + id + "#timeline"
	}
	return "/console/incidents/" + id + "?kind=" + kind + "#timeline"
}

func consoleIncidentURL(id string) string { return "/console/incidents/" + id }

// liveURL is what the incident page's live refresh fetches: the page as
// shown, with its timeline filter.
func liveURL(v IncidentConsoleView) string {
	if v.Filter == "" {
		return consoleIncidentURL(v.Incident.ID)
	}
	return consoleIncidentURL(v.Incident.ID) + "?kind=" + v.Filter
}

func smsText(p AudiencePreview) string {
	enc := "GSM-7"
	if p.SMSUnicode {
		enc = "Unicode"
	}
	return fmt.Sprintf("SMS: %d characters, %d segment%s (%s)", p.SMSChars, p.SMSParts, plural(p.SMSParts), enc)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func channelList(a herald.Audience) string {
	parts := make([]string, len(a.Channels))
	for i, c := range a.Channels {
		parts[i] = strings.ReplaceAll(string(c), "_", " ")
	}
	return strings.Join(parts, " + ")
}

// previewState says whether an audience gets the update, in words: the
// column's look alone must not carry it.
func previewState(p AudiencePreview) string {
	switch {
	case !p.Applies:
		return "Not required for this incident: not told."
	case !p.Ticked:
		return "Not ticked: will not get this update."
	}
	return "Will get:"
}

// kindLabel names a timeline event's kind for people.
func kindLabel(kind string) string {
	switch kind {
	case "declared":
		return "Declared"
	case "update":
		return "Update"
	case "communication":
		return "Message"
	case "component":
		return "Component"
	case "role":
		return "Role"
	case "note":
		return "Note"
	case "data_loss":
		return "Data loss"
	case "reopen":
		return "Reopened"
	case "exercise":
		return "DR exercise"
	}
	return strings.ReplaceAll(kind, "_", " ")
}

func orNobody(s string) string {
	if s == "" {
		return "unassigned"
	}
	return s
}

func searchSuffix(q string) string {
	if q == "" {
		return ""
	}
	return " match “" + q + "”"
}

func filterSuffix(kind string) string {
	if kind == "" {
		return " yet"
	}
	return " of this kind"
}

func zoneName(s Site) string { return time.Now().In(s.Location).Format("MST") }

func hasComponentErr(errs map[string]string, id string) bool {
	for k := range errs {
		if strings.HasPrefix(k, id+".") {
			return true
		}
	}
	return false
}
