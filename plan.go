package herald

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"time"
)

// Plan is Kredete's disaster-recovery plan as data: the public page, the
// components it tracks, the objectives, the communication plan and the
// failover catalogue. It comes from the configuration file.
type Plan struct {
	Page       Page
	Objectives Objectives
	Components []ComponentSpec
	Groups     []GroupSpec // component groups, as Statuspage's; optional
	Audiences  []Audience
	Failover   Failover
	Templates  []Template // the composer's starting texts; DefaultTemplates when empty
	PagerDuty  PagerDutyPolicy
	Exercises  ExercisePlan // the DR testing schedule and its seeded results
}

// Page describes the public status page.
type Page struct {
	ID       string // Statuspage's page.id; stable across restarts
	Name     string
	URL      string
	TimeZone string // IANA name, e.g. "Africa/Johannesburg"
}

// Objectives are the plan's recovery targets.
type Objectives struct {
	RTO          time.Duration // recovery time objective, e.g. 4h
	RPO          time.Duration // recovery point objective, e.g. 1h
	Availability float64       // e.g. 0.9999
}

// ComponentSpec is a component as configured; its key stays stable when its
// name changes.
type ComponentSpec struct {
	Key         string
	Name        string
	Description string
	Group       string // the key of its group in Plan.Groups; empty when it stands alone
}

// GroupSpec is a component group as configured: a heading on the public page
// whose status is the worst of its components'. A group holds components,
// never other groups, as on Statuspage.
type GroupSpec struct {
	Key         string
	Name        string
	Description string
}

// Channel is a way of reaching an audience.
type Channel string

// The channels of the communication plan.
const (
	ChannelSlack      Channel = "slack"
	ChannelEmail      Channel = "email"
	ChannelSMS        Channel = "sms"
	ChannelStatusPage Channel = "status_page"
	ChannelPhone      Channel = "phone"
)

// Channels lists every channel Herald knows.
var Channels = []Channel{ChannelSlack, ChannelEmail, ChannelSMS, ChannelStatusPage, ChannelPhone}

// CadenceKind says how often an audience must hear from the incident.
type CadenceKind string

// The cadence kinds.
const (
	// RealTime: every update goes out as it happens.
	RealTime CadenceKind = "real_time"
	// Every: at least every Interval while the incident is open.
	Every CadenceKind = "every"
	// Deadline: once, within Interval of the incident's declaration.
	Deadline CadenceKind = "deadline"
)

// Cadence is an audience's promised rhythm.
type Cadence struct {
	Kind     CadenceKind
	Interval time.Duration // Every and Deadline
}

// String reads like the plan's table: "Real-time", "Every 30 min", "Within 4 hours".
func (c Cadence) String() string {
	switch c.Kind {
	case RealTime:
		return "Real-time"
	case Every:
		return "Every " + humanDuration(c.Interval)
	case Deadline:
		return "Within " + humanDuration(c.Interval)
	}
	return string(c.Kind)
}

// Audience is one row of the communication plan.
type Audience struct {
	Key         string
	Name        string
	Channels    []Channel
	Cadence     Cadence
	Conditional bool   // only when the incident says so (regulators: "if required")
	Description string // e.g. "Slack #incident-response"

	Recipients     Recipients
	ReminderPolicy ReminderPolicy
	OnDue          DueAction                 // what happens at due when nothing was sent; DueRemind when empty
	ByImpact       map[Impact]ImpactOverride // per-impact changes, e.g. minor: off
	Regulatory     *RegulatoryClock          // DORA-style steps instead of a single deadline
	// RequiredFor lists the impacts at which a conditional audience is
	// always owed: an incident declared or raised to one of them is marked
	// as needing it (regulators for critical incidents).
	RequiredFor []Impact
}

// Failover is the catalogue of recovery procedures.
type Failover struct {
	Regions    []RegionFailover
	Components []ComponentFailover
	Runbooks   []Runbook
}

// RegionFailover moves the service from one region to another in stages.
type RegionFailover struct {
	Key       string
	Name      string
	From, To  string
	Automatic bool
	Stages    []Stage
	// ApproverRole and ExecutorRole gate the procedure as a runbook's do;
	// empty: no approval, and whoever manages incidents follows it.
	ApproverRole  string
	ExecutorRole  string
	AutomationURL string // an endpoint Herald calls, signed, once the action may run
}

// Stage is one step of a failover or runbook with its expected window.
type Stage struct {
	Name          string
	WindowStart   time.Duration // from the start of the procedure
	WindowEnd     time.Duration
	Steps         []string
	Command       string // shell, shown as text
	EstimatedTime time.Duration
}

// ComponentFailover is the plan's response to one part failing.
type ComponentFailover struct {
	Key          string
	Name         string
	Response     string
	AutoRecovery bool
}

// Runbook is a documented manual procedure.
type Runbook struct {
	Key              string
	Name             string
	Description      string
	Warning          string
	ExecutorRole     string // who may execute it, e.g. "dba"; empty: any responder
	ApproverRole     string // who must approve first, e.g. "approver"; empty: none
	Precondition     string
	EstimatedTime    time.Duration
	Stages           []Stage
	ReplicationLagMs int    // precondition threshold when set (database failover: 100)
	AutomationURL    string // an endpoint Herald calls, signed, once the action is approved
}

var keyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Validate checks the plan and reports every problem with the path of the
// field, e.g. "components[2].name: must not be empty".
func (p Plan) Validate() error {
	var errs ValidationErrors
	if p.Page.Name == "" {
		errs.Add("page.name", "must not be empty")
	}
	if p.Page.ID != "" && !keyPattern.MatchString(p.Page.ID) {
		errs.Add("page.id", "must be lower-case letters, digits, - or _ (at most 63)")
	}
	if p.Page.TimeZone == "" {
		errs.Add("page.time_zone", "must not be empty (an IANA zone such as UTC or Africa/Johannesburg)")
	}
	if p.Objectives.RTO <= 0 {
		errs.Add("objectives.rto", "must be a positive duration such as 4h")
	}
	if p.Objectives.RPO <= 0 {
		errs.Add("objectives.rpo", "must be a positive duration such as 1h")
	}
	if a := p.Objectives.Availability; a <= 0 || a >= 1 {
		errs.Add("objectives.availability", "must be a fraction between 0 and 1 such as 0.9999, or a percentage such as 99.99%")
	}
	if len(p.Components) == 0 {
		errs.Add("components", "must list at least one component")
	}
	keys := map[string]bool{}
	groups := map[string]bool{}
	for i, g := range p.Groups {
		f := fmt.Sprintf("groups[%d]", i)
		checkKey(&errs, f+".key", g.Key, keys)
		groups[g.Key] = true
		if g.Name == "" {
			errs.Add(f+".name", "must not be empty")
		}
	}
	used := map[string]bool{}
	for i, c := range p.Components {
		f := fmt.Sprintf("components[%d]", i)
		checkKey(&errs, f+".key", c.Key, keys)
		if c.Name == "" {
			errs.Add(f+".name", "must not be empty")
		}
		if c.Group != "" {
			if !groups[c.Group] {
				errs.Add(f+".group", fmt.Sprintf("%q is not a key listed under groups", c.Group))
			}
			used[c.Group] = true
		}
	}
	for i, g := range p.Groups {
		if groups[g.Key] && !used[g.Key] {
			errs.Add(fmt.Sprintf("groups[%d]", i), fmt.Sprintf("group %q has no components (set group: %s on at least one)", g.Key, g.Key))
		}
	}
	akeys := map[string]bool{}
	for i, a := range p.Audiences {
		f := fmt.Sprintf("audiences[%d]", i)
		checkKey(&errs, f+".key", a.Key, akeys)
		if a.Name == "" {
			errs.Add(f+".name", "must not be empty")
		}
		if len(a.Channels) == 0 {
			errs.Add(f+".channels", "must list at least one channel")
		}
		for j, ch := range a.Channels {
			known := false
			for _, k := range Channels {
				known = known || k == ch
			}
			if !known {
				errs.Add(fmt.Sprintf("%s.channels[%d]", f, j), invalid("channel", string(ch), Channels).(*ValidationError).Problem)
			}
		}
		switch a.Cadence.Kind {
		case RealTime:
		case Every, Deadline:
			if a.Cadence.Interval <= 0 {
				errs.Add(f+".cadence", "needs a positive interval, e.g. \"every 30m\" or \"within 4h\"")
			}
		default:
			errs.Add(f+".cadence", fmt.Sprintf("%q is not one of real_time, every <duration>, within <duration>", a.Cadence.Kind))
		}
		checkAudienceDelivery(&errs, f, a)
	}
	seenT := map[Status]bool{}
	for i, t := range p.Templates {
		f := fmt.Sprintf("templates[%d]", i)
		if _, err := ParseStatus(KindIncident, string(t.Status)); err != nil {
			errs.Add(f+".status", err.(*ValidationError).Problem)
		} else if seenT[t.Status] {
			errs.Add(f+".status", fmt.Sprintf("%q has two templates", t.Status))
		}
		seenT[t.Status] = true
		if t.Body == "" {
			errs.Add(f+".body", "must not be empty")
		}
	}
	fkeys := map[string]bool{}
	for i, r := range p.Failover.Regions {
		f := fmt.Sprintf("failover.regions[%d]", i)
		checkKey(&errs, f+".key", r.Key, fkeys)
		if r.From == "" || r.To == "" {
			errs.Add(f, "needs both from and to regions")
		}
		checkStages(&errs, f, r.Stages)
		checkGate(&errs, f, r.ApproverRole, r.ExecutorRole, r.AutomationURL)
	}
	for i, c := range p.Failover.Components {
		f := fmt.Sprintf("failover.components[%d]", i)
		checkKey(&errs, f+".key", c.Key, fkeys)
		if c.Response == "" {
			errs.Add(f+".response", "must not be empty")
		}
	}
	for i, r := range p.Failover.Runbooks {
		f := fmt.Sprintf("failover.runbooks[%d]", i)
		checkKey(&errs, f+".key", r.Key, fkeys)
		if r.Name == "" {
			errs.Add(f+".name", "must not be empty")
		}
		checkStages(&errs, f, r.Stages)
		checkGate(&errs, f, r.ApproverRole, r.ExecutorRole, r.AutomationURL)
		if r.ReplicationLagMs < 0 {
			errs.Add(f+".replication_lag_ms", "must not be negative")
		}
	}
	checkPagerDuty(&errs, p)
	checkExercises(&errs, p.Exercises)
	return errs.Err()
}

// checkGate validates who approves and executes a procedure and where its
// automation lives.
func checkGate(errs *ValidationErrors, f, approver, executor, automation string) {
	if approver != "" && executor == "" && automation == "" {
		errs.Add(f+".executor_role", "a procedure that needs approval needs who starts it once approved (dba), or an automation_url")
	}
	if approver != "" {
		if r, err := ParseRole(approver); err != nil {
			errs.Add(f+".approver_role", err.(*ValidationError).Problem)
		} else if !r.Can(PermApprove) {
			errs.Add(f+".approver_role", fmt.Sprintf("the %s role cannot approve; use approver", r))
		}
	}
	if executor != "" {
		if r, err := ParseRole(executor); err != nil {
			errs.Add(f+".executor_role", err.(*ValidationError).Problem)
		} else if !r.Can(PermExecuteDBRunbook) {
			errs.Add(f+".executor_role", fmt.Sprintf("the %s role cannot execute gated runbooks; use dba", r))
		}
	}
	if automation != "" {
		if u, err := url.Parse(automation); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs.Add(f+".automation_url", fmt.Sprintf("%q is not an http(s) URL", automation))
		}
	}
}

func checkKey(errs *ValidationErrors, field, key string, seen map[string]bool) {
	switch {
	case !keyPattern.MatchString(key):
		errs.Add(field, fmt.Sprintf("%q must be lower-case letters, digits, - or _ (at most 63)", key))
	case seen[key]:
		errs.Add(field, fmt.Sprintf("%q is used twice", key))
	}
	seen[key] = true
}

func checkStages(errs *ValidationErrors, f string, stages []Stage) {
	if len(stages) == 0 {
		errs.Add(f+".stages", "must list at least one stage")
	}
	for j, s := range stages {
		sf := fmt.Sprintf("%s.stages[%d]", f, j)
		if s.Name == "" {
			errs.Add(sf+".name", "must not be empty")
		}
		if s.WindowEnd < s.WindowStart {
			errs.Add(sf+".window", "ends before it starts")
		}
	}
}

func humanDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0 && d >= time.Hour:
		if d == time.Hour {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return d.String()
}

var (
	emailPattern = regexp.MustCompile(`^[^@\s<>,;"]+@[^@\s<>,;"]+\.[^@\s<>,;"]+$`)
	phonePattern = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

// checkAudienceDelivery validates an audience's recipients, reminders, action
// at due, impact overrides and regulatory clock.
func checkAudienceDelivery(errs *ValidationErrors, f string, a Audience) {
	has := func(c Channel) bool {
		for _, ch := range a.Channels {
			if ch == c {
				return true
			}
		}
		return false
	}
	r := a.Recipients
	if r.SlackChannel != "" && !has(ChannelSlack) {
		errs.Add(f+".recipients.slack_channel", "is set but slack is not among the audience's channels")
	}
	for j, e := range r.Emails {
		if !emailPattern.MatchString(e) {
			errs.Add(fmt.Sprintf("%s.recipients.emails[%d]", f, j), fmt.Sprintf("%q is not an email address", e))
		}
	}
	for j, p := range r.Phones {
		if !phonePattern.MatchString(p) {
			errs.Add(fmt.Sprintf("%s.recipients.phones[%d]", f, j), fmt.Sprintf("%q is not an E.164 number such as +27821234567", p))
		}
	}
	for j, c := range r.Contacts {
		cf := fmt.Sprintf("%s.recipients.contacts[%d]", f, j)
		if c.Name == "" {
			errs.Add(cf+".name", "must not be empty")
		}
		if c.Email == "" && c.Phone == "" {
			errs.Add(cf, "needs an email or a phone")
		}
		if c.Email != "" && !emailPattern.MatchString(c.Email) {
			errs.Add(cf+".email", fmt.Sprintf("%q is not an email address", c.Email))
		}
		if c.Phone != "" && !phonePattern.MatchString(c.Phone) {
			errs.Add(cf+".phone", fmt.Sprintf("%q is not an E.164 number such as +27821234567", c.Phone))
		}
	}
	p := a.ReminderPolicy
	for j, d := range p.Before {
		if d <= 0 {
			errs.Add(fmt.Sprintf("%s.reminders.before[%d]", f, j), "must be a positive duration such as 5m")
		}
		if (a.Cadence.Kind == Every || a.Cadence.Kind == Deadline) && d >= a.Cadence.Interval && a.Regulatory == nil {
			errs.Add(fmt.Sprintf("%s.reminders.before[%d]", f, j), fmt.Sprintf("%s is not shorter than the cadence (%s)", d, a.Cadence.Interval))
		}
	}
	if p.Every < 0 {
		errs.Add(f+".reminders.every", "must not be negative")
	}
	if p.EscalateAfter < 0 {
		errs.Add(f+".reminders.escalate_after", "must not be negative")
	}
	for j, w := range p.Whom {
		if _, err := ParseIncidentRole(string(w)); err != nil {
			errs.Add(fmt.Sprintf("%s.reminders.whom[%d]", f, j), err.(*ValidationError).Problem)
		}
	}
	for j, ch := range p.Channels {
		if ch != ChannelSlack && ch != ChannelSMS && ch != ChannelEmail {
			errs.Add(fmt.Sprintf("%s.reminders.channels[%d]", f, j), fmt.Sprintf("%q cannot carry reminders: use slack, sms or email", ch))
		}
	}
	switch a.OnDue {
	case "", DueEscalate, DueRemind:
	case DueHolding:
		switch {
		case has(ChannelStatusPage):
			errs.Add(f+".on_due", "the public page never gets automatic text: use escalate or remind")
		case !has(ChannelEmail) && !has(ChannelSMS) && !has(ChannelSlack):
			errs.Add(f+".on_due", "holding_update needs an email, sms or slack channel to send it through")
		}
	default:
		errs.Add(f+".on_due", invalid("action", string(a.OnDue), DueActions).(*ValidationError).Problem)
	}
	for _, imp := range slices.Sorted(maps.Keys(a.ByImpact)) { // a stable order for the messages
		o := a.ByImpact[imp]
		of := fmt.Sprintf("%s.by_impact.%s", f, imp)
		if _, err := ParseImpact(string(imp)); err != nil {
			errs.Add(of, err.(*ValidationError).Problem)
		}
		if o.Off && o.Cadence != nil {
			errs.Add(of, "is both off and given a cadence; pick one")
		}
		if o.Cadence != nil && (o.Cadence.Kind == Every || o.Cadence.Kind == Deadline) && o.Cadence.Interval <= 0 {
			errs.Add(of+".cadence", "needs a positive interval")
		}
	}
	for j, imp := range a.RequiredFor {
		if _, err := ParseImpact(string(imp)); err != nil {
			errs.Add(fmt.Sprintf("%s.required_for[%d]", f, j), err.(*ValidationError).Problem)
		} else if !a.Conditional {
			errs.Add(f+".required_for", "only a conditional audience can be required by impact")
		}
	}
	if rc := a.Regulatory; rc != nil {
		if rc.AfterClassification <= 0 {
			errs.Add(f+".regulatory.initial_after_classification", "must be a positive duration such as 4h")
		}
		if rc.AfterAwareness < 0 {
			errs.Add(f+".regulatory.initial_after_awareness", "must not be negative")
		}
		if rc.Intermediate <= 0 {
			errs.Add(f+".regulatory.intermediate_after_initial", "must be a positive duration such as 72h")
		}
		if rc.Final < 0 {
			errs.Add(f+".regulatory.final_after_intermediate", "must not be negative")
		}
	}
}
