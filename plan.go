package herald

import (
	"fmt"
	"regexp"
	"time"
)

// Plan is Kredete's disaster-recovery plan as data: the public page, the
// components it tracks, the objectives, the communication plan and the
// failover catalogue. It comes from the configuration file.
type Plan struct {
	Page       Page
	Objectives Objectives
	Components []ComponentSpec
	Audiences  []Audience
	Failover   Failover
	Templates  []Template // the composer's starting texts; DefaultTemplates when empty
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
	ReplicationLagMs int // precondition threshold when set (database failover: 100)
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
	for i, c := range p.Components {
		f := fmt.Sprintf("components[%d]", i)
		checkKey(&errs, f+".key", c.Key, keys)
		if c.Name == "" {
			errs.Add(f+".name", "must not be empty")
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
	}
	return errs.Err()
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
