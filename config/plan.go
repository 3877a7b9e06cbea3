package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/kredete/herald"
)

// DefaultPlan is the embedded configuration: Kredete's plan from the
// disaster-recovery document.
//
//go:embed default.yaml
var DefaultPlan []byte

// LoadPlan reads the plan from path, or the embedded default when path is
// empty. Every problem is reported with the field's path and line.
func LoadPlan(path string) (herald.Plan, error) {
	if path == "" {
		return ParsePlan(DefaultPlan, "default.yaml")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return herald.Plan{}, fmt.Errorf("config: %w", err)
	}
	return ParsePlan(b, path)
}

// ParsePlan parses and validates a plan. name is used in messages.
func ParsePlan(b []byte, name string) (herald.Plan, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return herald.Plan{}, fmt.Errorf("config %s: the file is empty", name)
		}
		return herald.Plan{}, fmt.Errorf("config %s: %s", name, located(b, cleanYAMLError(err)))
	}
	var f file
	dec = yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return herald.Plan{}, fmt.Errorf("config %s: %s", name, describeYAMLError(&root, err))
	}
	p := f.plan()
	if err := p.Validate(); err != nil {
		var ves herald.ValidationErrors
		if errors.As(err, &ves) {
			lines := make([]string, len(ves))
			for i, ve := range ves {
				where := ve.Field
				if n := lineOf(&root, ve.Field); n > 0 {
					where = fmt.Sprintf("line %d: %s", n, ve.Field)
				}
				lines[i] = where + ": " + ve.Problem
			}
			return herald.Plan{}, fmt.Errorf("config %s: %w: %s", name, herald.ErrInvalid, strings.Join(lines, "; "))
		}
		return herald.Plan{}, fmt.Errorf("config %s: %w", name, err)
	}
	loc, err := time.LoadLocation(p.Page.TimeZone)
	if err != nil {
		return herald.Plan{}, fmt.Errorf("config %s: line %d: page.time_zone: unknown time zone %q", name, lineOf(&root, "page.time_zone"), p.Page.TimeZone)
	}
	localResults(p.Exercises.Results, loc)
	return p, nil
}

var hasLine = regexp.MustCompile(`^line [0-9]+: `)

// located gives a YAML syntax error its line when the YAML library leaves
// it out: it does for an error on the first line (it counts lines from 0
// and skips a 0) and for a character it cannot read, which it reports by
// byte offset, not at all here. The line is then the first unreadable
// character's, else the first.
func located(b []byte, msg string) string {
	if hasLine.MatchString(msg) {
		return msg
	}
	line := 1
	if strings.Contains(msg, "character") || strings.Contains(msg, "octet") {
		for i := 0; i < len(b); {
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 || !yamlChar(r) {
				break
			}
			if r == '\n' {
				line++
			}
			i += size
		}
	}
	return fmt.Sprintf("line %d: %s", line, msg)
}

// yamlChar reports whether YAML allows r in a document (YAML 1.2, 5.1).
func yamlChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0x7e || r == 0x85 ||
		r >= 0xa0 && r <= 0xd7ff || r >= 0xe000 && r <= 0xfffd && r != 0xfeff || r >= 0x10000 && r <= 0x10ffff
}

// valueError is a value one of the plan's own parsers refused. It keeps the
// node's position so ParsePlan can name the field it belongs to: the parser
// itself only sees the value.
type valueError struct {
	line, column int
	problem      string
}

func (e *valueError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.problem) }

func badValue(n *yaml.Node, format string, args ...any) error {
	return &valueError{line: n.Line, column: n.Column, problem: fmt.Sprintf(format, args...)}
}

var (
	typeErrorLine = regexp.MustCompile(`^line (\d+): (.*)$`)
	goListType    = regexp.MustCompile(`into \[\]struct \{.*\}$`)
	goStructType  = regexp.MustCompile(`into struct \{.*\}$`)
	goSliceType   = regexp.MustCompile(`into \[\][\w.]+$`)
	goMapType     = regexp.MustCompile(`into map\[[^\]]*\][\w.]+$`)
	unknownField  = regexp.MustCompile(`field (\S+) not found in type .*$`)
)

// describeYAMLError turns a decoding error into "line N: field.path: problem".
func describeYAMLError(root *yaml.Node, err error) string {
	var ve *valueError
	if errors.As(err, &ve) {
		if path := pathAt(root, ve.line, ve.column); path != "" {
			return fmt.Sprintf("line %d: %s: %s", ve.line, path, ve.problem)
		}
		return ve.Error()
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		parts := make([]string, len(te.Errors))
		for i, e := range te.Errors {
			parts[i] = cleanYAMLError(errors.New(e))
			m := typeErrorLine.FindStringSubmatch(e)
			if m == nil {
				continue
			}
			line, _ := strconv.Atoi(m[1])
			if path := pathAt(root, line, 0); path != "" {
				parts[i] = fmt.Sprintf("line %d: %s: %s", line, path, cleanYAMLError(errors.New(m[2])))
			}
		}
		return strings.Join(parts, "; ")
	}
	return cleanYAMLError(err)
}

// pathAt finds the field path ("audiences[0].cadence") of the mapping entry
// whose key or value starts at line (and column, when not 0).
func pathAt(n *yaml.Node, line, column int) string {
	var walk func(n *yaml.Node, path string) string
	walk = func(n *yaml.Node, path string) string {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if p := walk(c, path); p != "" {
					return p
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				if column == 0 && k.Line == line || v.Line == line && v.Column == column {
					return p
				}
				if found := walk(v, p); found != "" {
					return found
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if column != 0 && c.Line == line && c.Column == column {
					return p
				}
				if found := walk(c, p); found != "" {
					return found
				}
			}
		}
		return ""
	}
	return walk(n, "")
}

func cleanYAMLError(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	s = strings.ReplaceAll(s, "unmarshal errors:\n  ", "")
	s = strings.ReplaceAll(s, "\n  ", "; ")
	s = unknownField.ReplaceAllString(s, `unknown field "$1"`)
	s = goListType.ReplaceAllString(s, "into a list")
	s = goStructType.ReplaceAllString(s, "into a mapping")
	s = goSliceType.ReplaceAllString(s, "into a list")
	s = goMapType.ReplaceAllString(s, "into a mapping")
	return regexp.MustCompile(`in type config\.\w+`).ReplaceAllString(s, "here")
}

// lineOf finds the line of a field path such as "components[2].name".
func lineOf(n *yaml.Node, path string) int {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, part := range strings.Split(path, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 {
			name = part[:i]
			idx, _ = strconv.Atoi(strings.TrimSuffix(part[i+1:], "]"))
		}
		next := (*yaml.Node)(nil)
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == name {
					next = n.Content[i+1]
				}
			}
		}
		if next == nil {
			return n.Line
		}
		n = next
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return n.Line
			}
			n = n.Content[idx]
		}
	}
	return n.Line
}

// file mirrors the YAML document. Unknown fields are errors.
type file struct {
	Page struct {
		ID       string `yaml:"id"`
		Name     string `yaml:"name"`
		URL      string `yaml:"url"`
		TimeZone string `yaml:"time_zone"`
	} `yaml:"page"`
	Objectives struct {
		RTO          duration `yaml:"rto"`
		RPO          duration `yaml:"rpo"`
		Availability fraction `yaml:"availability"`
	} `yaml:"objectives"`
	Components []struct {
		Key         string `yaml:"key"`
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
		Group       string `yaml:"group"`
	} `yaml:"components"`
	Groups []struct {
		Key         string `yaml:"key"`
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
	} `yaml:"groups"`
	Audiences []struct {
		Key         string   `yaml:"key"`
		Name        string   `yaml:"name"`
		Channels    []string `yaml:"channels"`
		Description string   `yaml:"description"`
		Cadence     cadence  `yaml:"cadence"`
		Conditional bool     `yaml:"conditional"`
		Recipients  struct {
			SlackChannel string   `yaml:"slack_channel"`
			Emails       []string `yaml:"emails"`
			Phones       []string `yaml:"phones"`
			Contacts     []struct {
				Name  string `yaml:"name"`
				Email string `yaml:"email"`
				Phone string `yaml:"phone"`
			} `yaml:"contacts"`
		} `yaml:"recipients"`
		Reminders struct {
			Before        []duration `yaml:"before"`
			Every         duration   `yaml:"every"`
			Whom          []string   `yaml:"whom"`
			EscalateAfter duration   `yaml:"escalate_after"`
			Channels      []string   `yaml:"channels"`
		} `yaml:"reminders"`
		OnDue       string                    `yaml:"on_due"`
		RequiredFor []string                  `yaml:"required_for"`
		ByImpact    map[string]impactOverride `yaml:"by_impact"`
		Regulatory  *struct {
			AfterClassification duration `yaml:"initial_after_classification"`
			AfterAwareness      duration `yaml:"initial_after_awareness"`
			Intermediate        duration `yaml:"intermediate_after_initial"`
			Final               duration `yaml:"final_after_intermediate"`
		} `yaml:"regulatory"`
	} `yaml:"audiences"`
	Templates []struct {
		Status string `yaml:"status"`
		Body   string `yaml:"body"`
	} `yaml:"templates"`
	Failover struct {
		Regions []struct {
			Key           string  `yaml:"key"`
			Name          string  `yaml:"name"`
			From          string  `yaml:"from"`
			To            string  `yaml:"to"`
			Automatic     bool    `yaml:"automatic"`
			ApproverRole  string  `yaml:"approver_role"`
			ExecutorRole  string  `yaml:"executor_role"`
			AutomationURL string  `yaml:"automation_url"`
			Stages        []stage `yaml:"stages"`
		} `yaml:"regions"`
		Components []struct {
			Key          string `yaml:"key"`
			Name         string `yaml:"name"`
			Response     string `yaml:"response"`
			AutoRecovery bool   `yaml:"auto_recovery"`
		} `yaml:"components"`
		Runbooks []struct {
			Key              string   `yaml:"key"`
			Name             string   `yaml:"name"`
			Description      string   `yaml:"description"`
			Warning          string   `yaml:"warning"`
			ExecutorRole     string   `yaml:"executor_role"`
			ApproverRole     string   `yaml:"approver_role"`
			Precondition     string   `yaml:"precondition"`
			ReplicationLagMs int      `yaml:"replication_lag_ms"`
			EstimatedTime    duration `yaml:"estimated_time"`
			AutomationURL    string   `yaml:"automation_url"`
			Stages           []stage  `yaml:"stages"`
		} `yaml:"runbooks"`
	} `yaml:"failover"`
	PagerDuty struct {
		Services []struct {
			ID         string   `yaml:"id"`
			Name       string   `yaml:"name"`
			Components []string `yaml:"components"`
			Impact     string   `yaml:"impact"`
			Starts     []string `yaml:"starts"`
		} `yaml:"services"`
		DefaultComponents []string          `yaml:"default_components"`
		Impacts           map[string]string `yaml:"impacts"`
		TriggerAt         string            `yaml:"trigger_at"`
		AutoResolve       bool              `yaml:"auto_resolve"`
	} `yaml:"pagerduty"`
	Exercises exercises `yaml:"exercises"`
}

type stage struct {
	Name          string   `yaml:"name"`
	Window        window   `yaml:"window"`
	Steps         []string `yaml:"steps"`
	Command       string   `yaml:"command"`
	EstimatedTime duration `yaml:"estimated_time"`
}

func (s stage) domain() herald.Stage {
	return herald.Stage{Name: s.Name, WindowStart: s.Window.from, WindowEnd: s.Window.to, Steps: s.Steps,
		Command: strings.TrimRight(s.Command, "\n"), EstimatedTime: time.Duration(s.EstimatedTime)}
}

func stages(ss []stage) []herald.Stage {
	out := make([]herald.Stage, len(ss))
	for i, s := range ss {
		out[i] = s.domain()
	}
	return out
}

func (f *file) plan() herald.Plan {
	p := herald.Plan{
		Page: herald.Page{ID: f.Page.ID, Name: f.Page.Name, URL: strings.TrimRight(f.Page.URL, "/"), TimeZone: f.Page.TimeZone},
		Objectives: herald.Objectives{RTO: time.Duration(f.Objectives.RTO), RPO: time.Duration(f.Objectives.RPO),
			Availability: float64(f.Objectives.Availability)},
	}
	if p.Page.ID == "" {
		p.Page.ID = "herald"
	}
	for _, c := range f.Components {
		p.Components = append(p.Components, herald.ComponentSpec{Key: c.Key, Name: c.Name, Description: c.Description, Group: c.Group})
	}
	for _, g := range f.Groups {
		p.Groups = append(p.Groups, herald.GroupSpec{Key: g.Key, Name: g.Name, Description: g.Description})
	}
	for _, a := range f.Audiences {
		chs := make([]herald.Channel, len(a.Channels))
		for i, c := range a.Channels {
			chs[i] = herald.Channel(c)
		}
		au := herald.Audience{Key: a.Key, Name: a.Name, Channels: chs,
			Cadence: herald.Cadence(a.Cadence), Conditional: a.Conditional, Description: a.Description,
			OnDue: herald.DueAction(a.OnDue)}
		au.Recipients = herald.Recipients{SlackChannel: a.Recipients.SlackChannel, Emails: a.Recipients.Emails,
			Phones: a.Recipients.Phones}
		for _, c := range a.Recipients.Contacts {
			au.Recipients.Contacts = append(au.Recipients.Contacts, herald.Contact{Name: c.Name, Email: c.Email, Phone: c.Phone})
		}
		rp := a.Reminders
		au.ReminderPolicy = herald.ReminderPolicy{Every: time.Duration(rp.Every), EscalateAfter: time.Duration(rp.EscalateAfter)}
		for _, d := range rp.Before {
			au.ReminderPolicy.Before = append(au.ReminderPolicy.Before, time.Duration(d))
		}
		for _, w := range rp.Whom {
			au.ReminderPolicy.Whom = append(au.ReminderPolicy.Whom, herald.IncidentRole(w))
		}
		for _, c := range rp.Channels {
			au.ReminderPolicy.Channels = append(au.ReminderPolicy.Channels, herald.Channel(c))
		}
		if len(a.ByImpact) > 0 {
			au.ByImpact = map[herald.Impact]herald.ImpactOverride{}
			for imp, o := range a.ByImpact {
				au.ByImpact[herald.Impact(imp)] = herald.ImpactOverride(o)
			}
		}
		for _, imp := range a.RequiredFor {
			au.RequiredFor = append(au.RequiredFor, herald.Impact(imp))
		}
		if r := a.Regulatory; r != nil {
			au.Regulatory = &herald.RegulatoryClock{AfterClassification: time.Duration(r.AfterClassification),
				AfterAwareness: time.Duration(r.AfterAwareness), Intermediate: time.Duration(r.Intermediate),
				Final: time.Duration(r.Final)}
		}
		p.Audiences = append(p.Audiences, au)
	}
	for _, t := range f.Templates {
		p.Templates = append(p.Templates, herald.Template{Status: herald.Status(t.Status), Body: strings.TrimSpace(t.Body)})
	}
	for _, r := range f.Failover.Regions {
		p.Failover.Regions = append(p.Failover.Regions, herald.RegionFailover{Key: r.Key, Name: r.Name, From: r.From, To: r.To,
			Automatic: r.Automatic, ApproverRole: r.ApproverRole, ExecutorRole: r.ExecutorRole, AutomationURL: r.AutomationURL,
			Stages: stages(r.Stages)})
	}
	for _, c := range f.Failover.Components {
		p.Failover.Components = append(p.Failover.Components, herald.ComponentFailover{Key: c.Key, Name: c.Name,
			Response: c.Response, AutoRecovery: c.AutoRecovery})
	}
	for _, r := range f.Failover.Runbooks {
		p.Failover.Runbooks = append(p.Failover.Runbooks, herald.Runbook{Key: r.Key, Name: r.Name, Description: r.Description,
			Warning: r.Warning, ExecutorRole: r.ExecutorRole, ApproverRole: r.ApproverRole, Precondition: r.Precondition,
			ReplicationLagMs: r.ReplicationLagMs, EstimatedTime: time.Duration(r.EstimatedTime), AutomationURL: r.AutomationURL,
			Stages: stages(r.Stages)})
	}
	pd := f.PagerDuty
	p.PagerDuty = herald.PagerDutyPolicy{DefaultComponents: pd.DefaultComponents, TriggerAt: herald.Impact(pd.TriggerAt),
		AutoResolve: pd.AutoResolve}
	for _, s := range pd.Services {
		p.PagerDuty.Services = append(p.PagerDuty.Services, herald.PagerDutyService{ID: s.ID, Name: s.Name,
			Components: s.Components, Impact: herald.Impact(s.Impact), Starts: s.Starts})
	}
	if len(pd.Impacts) > 0 {
		p.PagerDuty.Impacts = map[string]herald.Impact{}
		for k, v := range pd.Impacts {
			p.PagerDuty.Impacts[k] = herald.Impact(v)
		}
	}
	p.Exercises = f.Exercises.plan()
	return p
}

type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil || v < 0 {
		return badValue(n, "%q is not a duration (write 90s, 15m, 4h or 2h30m)", n.Value)
	}
	*d = duration(v)
	return nil
}

type fraction float64

func (f *fraction) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(n.Value)
	pct := strings.HasSuffix(s, "%")
	num := strings.TrimSuffix(s, "%")
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return badValue(n, "%q is not a number (write 99.99%% or 0.9999)", n.Value)
	}
	if pct || v > 1 {
		// Shift the decimal point in the text rather than divide: 99.99/100
		// is 0.99989999…, which a 0.9999 target would then fail to match.
		if w, err := strconv.ParseFloat(num+"e-2", 64); err == nil {
			v = w
		} else {
			v /= 100
		}
	}
	*f = fraction(v)
	return nil
}

type cadence herald.Cadence

func (c *cadence) UnmarshalYAML(n *yaml.Node) error {
	fields := strings.Fields(n.Value)
	bad := badValue(n, "%q is not one of: real_time, every <duration>, within <duration>", n.Value)
	switch {
	case len(fields) == 1 && (fields[0] == "real_time" || fields[0] == "realtime"):
		*c = cadence{Kind: herald.RealTime}
		return nil
	case len(fields) == 2 && (fields[0] == "every" || fields[0] == "within"):
		d, err := time.ParseDuration(fields[1])
		if err != nil || d <= 0 {
			return bad
		}
		k := herald.Every
		if fields[0] == "within" {
			k = herald.Deadline
		}
		*c = cadence{Kind: k, Interval: d}
		return nil
	}
	return bad
}

// impactOverride reads a by_impact value: "off", or a cadence such as
// "every 60m".
type impactOverride herald.ImpactOverride

func (o *impactOverride) UnmarshalYAML(n *yaml.Node) error {
	if v := strings.TrimSpace(n.Value); v == "off" || v == "none" || v == "false" {
		*o = impactOverride{Off: true}
		return nil
	}
	var c cadence
	if err := c.UnmarshalYAML(n); err != nil {
		return badValue(n, "%q is neither off nor a cadence (real_time, every <duration>, within <duration>)", n.Value)
	}
	hc := herald.Cadence(c)
	*o = impactOverride{Cadence: &hc}
	return nil
}

type window struct{ from, to time.Duration }

func (w *window) UnmarshalYAML(n *yaml.Node) error {
	a, b, ok := strings.Cut(n.Value, "-")
	from, err1 := time.ParseDuration(strings.TrimSpace(a))
	to, err2 := time.ParseDuration(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil {
		return badValue(n, "%q is not a range such as 2m-5m", n.Value)
	}
	*w = window{from, to}
	return nil
}
