package herald

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"
)

// DueAction says what happens when an audience's next update falls due and
// nothing has been sent.
type DueAction string

// The actions at due.
const (
	// DueHolding sends an automatic holding update built from the
	// incident's current state (executives by default).
	DueHolding DueAction = "holding_update"
	// DueEscalate reminds the first person and escalates to the next ones
	// (the public page by default: never automatic text).
	DueEscalate DueAction = "escalate"
	// DueRemind reminds only (regulators by default).
	DueRemind DueAction = "remind"
)

// DueActions lists the actions in the order the configuration documents them.
var DueActions = []DueAction{DueHolding, DueEscalate, DueRemind}

// Recipients are who an audience's messages go to.
type Recipients struct {
	SlackChannel string    // e.g. "#incident-response"
	Emails       []string  // executives' addresses
	Phones       []string  // E.164 numbers for SMS
	Contacts     []Contact // compliance contacts: reminded about regulator deadlines
}

// Contact is a named person outside the incident's roles.
type Contact struct {
	Name  string
	Email string
	Phone string
}

// ReminderPolicy says when and whom Herald reminds about an audience's
// obligation.
type ReminderPolicy struct {
	Before        []time.Duration // remind this long before due, e.g. 5m
	Every         time.Duration   // once overdue, remind again this often (0: once, at due)
	Whom          []IncidentRole  // the first is reminded; escalation reaches the rest
	EscalateAfter time.Duration   // escalate this long after due (0: at due)
	Channels      []Channel       // how reminders reach people: slack (direct message), sms
}

// ImpactOverride changes an audience's cadence for incidents of one impact.
type ImpactOverride struct {
	Off     bool     // the audience is not owed anything at this impact
	Cadence *Cadence // a different cadence; nil keeps the audience's own
}

// RegulatoryClock models DORA's reporting of a major ICT-related incident:
// the initial notification is due at the earlier of classification +
// AfterClassification and awareness + AfterAwareness; the intermediate
// report Intermediate after the initial notification; the final report
// Final after the last intermediate one.
type RegulatoryClock struct {
	AfterClassification time.Duration // 4h
	AfterAwareness      time.Duration // 24h
	Intermediate        time.Duration // 72h
	Final               time.Duration // one month (720h)
}

// The steps of a regulatory clock.
const (
	StepUpdate       = "update"       // the next update of an every-N or real-time audience
	StepDeadline     = "deadline"     // a simple "within N" deadline
	StepInitial      = "initial"      // DORA initial notification
	StepIntermediate = "intermediate" // DORA intermediate report
	StepFinal        = "final"        // DORA final report
)

// DORASteps lists the DORA steps in order.
var DORASteps = []string{StepInitial, StepIntermediate, StepFinal}

// RegulatorReport records that a regulatory step was done: a call made or a
// report filed. It satisfies the step of its incident.
type RegulatorReport struct {
	ID         string
	IncidentID string
	Step       string // initial, intermediate, final (or deadline)
	CalledBy   string
	Whom       string // the regulator and the person reached
	At         time.Time
	Reference  string
	Notes      string
	RecordedBy string
	CreatedAt  time.Time
}

// Obligation is what one audience is owed next for one incident.
type Obligation struct {
	IncidentID string
	Audience   string // Audience.Key
	Step       string // StepUpdate, StepDeadline or a regulatory step
	Since      time.Time
	Due        time.Time
	Action     DueAction
}

// Key names the obligation for idempotency: the same obligation computed on
// any replica has the same key; a new message moves Due and so the key.
func (o Obligation) Key() string {
	return o.IncidentID + "/" + o.Audience + "/" + o.Step + "/" + strconv.FormatInt(o.Due.Unix(), 10)
}

// Effective applies the incident's impact override: the audience's cadence
// for this incident, and false when the audience is owed nothing.
func (a Audience) Effective(in Incident) (Cadence, bool) {
	if a.Conditional && !in.NotifyRegulators {
		return a.Cadence, false
	}
	if o, ok := a.ByImpact[in.Impact]; ok {
		if o.Off {
			return a.Cadence, false
		}
		if o.Cadence != nil {
			return *o.Cadence, true
		}
	}
	return a.Cadence, true
}

// Obligations computes what each audience is owed next for an incident from
// the plan, what has been told and the regulator reports so far. It is a
// pure function: the engine and the board both call it.
//
//   - Every N: due N after the last message to the audience, or N after
//     the declaration, while the incident is open.
//   - Real time: nothing is due by the clock (every update goes out).
//   - Within N: due N after the incident was classified (the regulator flag
//     set, or the declaration), until told once.
//   - Regulatory (DORA): initial, then intermediate, then final; these go on
//     after the incident is resolved.
func Obligations(plan Plan, in Incident, told []Communication, reports []RegulatorReport) []Obligation {
	last := lastTold(plan, in, told)
	var out []Obligation
	for _, a := range plan.Audiences {
		cad, ok := a.Effective(in)
		if !ok {
			continue
		}
		ob := Obligation{IncidentID: in.ID, Audience: a.Key, Action: a.onDue()}
		switch {
		case a.Regulatory != nil:
			if o, ok := regulatoryObligation(*a.Regulatory, in, reports); ok {
				o.Audience, o.Action = a.Key, ob.Action
				out = append(out, o)
			}
		case cad.Kind == Every:
			if !in.Open() {
				continue
			}
			ob.Step, ob.Since = StepUpdate, in.CreatedAt
			if t, ok := last[a.Key]; ok && t.After(ob.Since) {
				ob.Since = t
			}
			ob.Due = ob.Since.Add(cad.Interval)
			out = append(out, ob)
		case cad.Kind == Deadline:
			if _, told := last[a.Key]; told || !in.Open() || reported(reports, in.ID, StepDeadline) {
				continue
			}
			// A conditional audience (regulators) starts when the incident
			// was classified as needing it; any other at the declaration.
			ob.Step, ob.Since = StepDeadline, in.CreatedAt
			if a.Conditional {
				ob.Since = in.Classified()
			}
			ob.Due = ob.Since.Add(cad.Interval)
			out = append(out, ob)
		}
	}
	return out
}

// Classified is when the incident was classified as needing regulators: when
// the flag was set, or its declaration.
func (in Incident) Classified() time.Time {
	if in.RegulatorsAt != nil {
		return *in.RegulatorsAt
	}
	return in.CreatedAt
}

func regulatoryObligation(rc RegulatoryClock, in Incident, reports []RegulatorReport) (Obligation, bool) {
	done := map[string]time.Time{}
	for _, r := range reports {
		if r.IncidentID != in.ID {
			continue
		}
		if t, ok := done[r.Step]; !ok || r.At.After(t) {
			done[r.Step] = r.At
		}
	}
	ob := Obligation{IncidentID: in.ID}
	initial, ok := done[StepInitial]
	if !ok {
		ob.Step, ob.Since = StepInitial, in.Classified()
		ob.Due = ob.Since.Add(rc.AfterClassification)
		if aw := in.StartedAt.Add(rc.AfterAwareness); rc.AfterAwareness > 0 && aw.Before(ob.Due) {
			ob.Due = aw
		}
		return ob, true
	}
	inter, ok := done[StepIntermediate]
	if !ok {
		ob.Step, ob.Since, ob.Due = StepIntermediate, initial, initial.Add(rc.Intermediate)
		return ob, true
	}
	if _, ok := done[StepFinal]; !ok && rc.Final > 0 {
		ob.Step, ob.Since, ob.Due = StepFinal, inter, inter.Add(rc.Final)
		return ob, true
	}
	return Obligation{}, false
}

func (a Audience) onDue() DueAction {
	if a.OnDue != "" {
		return a.OnDue
	}
	return DueRemind
}

// ReminderKind is the kind of one step of an obligation's reminders.
type ReminderKind string

// The reminder kinds.
const (
	RemindBefore   ReminderKind = "before"   // ahead of due
	RemindDue      ReminderKind = "due"      // at due
	RemindHolding  ReminderKind = "holding"  // at due: the automatic holding update
	RemindOverdue  ReminderKind = "overdue"  // again, while overdue
	RemindEscalate ReminderKind = "escalate" // to the next people
)

// Reminder is one scheduled step of an obligation: at At, tell To.
type Reminder struct {
	Obligation Obligation
	Kind       ReminderKind
	At         time.Time
	To         []IncidentRole
	N          int // the how-many-th step of its kind, for the key
}

// Key is the reminder's idempotency key, the same on every replica.
func (r Reminder) Key() string {
	return r.Obligation.Key() + "/" + string(r.Kind) + "/" + strconv.Itoa(r.N)
}

// Late says how far after its time the reminder is, at now.
func (r Reminder) Late(now time.Time) time.Duration { return now.Sub(r.At) }

// maxOverdue bounds the overdue reminders computed for one obligation.
const maxOverdue = 1000

// Reminders lists the steps of an obligation in time order: the reminders
// before due, the action at due, the escalation and the overdue repeats up
// to until (and at most maxOverdue of them). With escalate, the repeats go
// to the first person until the escalation and to everyone after it.
func (a Audience) Reminders(ob Obligation, until time.Time) []Reminder {
	return a.RemindersWith(ob, nil, until)
}

// RemindersWith is Reminders after the answers given to the obligation's
// reminders so far (snoozes, acknowledgements: see respond).
func (a Audience) RemindersWith(ob Obligation, answers []ReminderResponse, until time.Time) []Reminder {
	p := a.ReminderPolicy
	var out []Reminder
	for i, d := range p.Before {
		// A reminder that would fall before the obligation began (a
		// shorter cadence for this impact) has nothing to remind of.
		if at := ob.Due.Add(-d); ob.Since.IsZero() || at.After(ob.Since) {
			out = append(out, Reminder{Obligation: ob, Kind: RemindBefore, At: at, To: p.first(), N: i})
		}
	}
	switch ob.Action {
	case DueHolding:
		out = append(out, Reminder{Obligation: ob, Kind: RemindHolding, At: ob.Due})
	default:
		out = append(out, Reminder{Obligation: ob, Kind: RemindDue, At: ob.Due, To: p.first()})
		escalates := ob.Action == DueEscalate && len(p.Whom) > 1
		escalateAt := ackedEscalation(ob, p, answers, ob.Due.Add(p.EscalateAfter))
		if escalates {
			out = append(out, Reminder{Obligation: ob, Kind: RemindEscalate, At: escalateAt, To: p.all()})
		}
		if p.Every > 0 {
			for n, at := 1, ob.Due.Add(p.Every); !at.After(until) && n <= maxOverdue; n, at = n+1, at.Add(p.Every) {
				// A repeat at the escalation's time would supersede it in
				// Current: the escalation stands for it.
				to := p.first()
				if escalates {
					if at.Equal(escalateAt) {
						continue
					}
					if at.After(escalateAt) {
						to = p.all()
					}
				}
				out = append(out, Reminder{Obligation: ob, Kind: RemindOverdue, At: at, To: to, N: n})
			}
		}
	}
	out = respond(out, ob, p, answers)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// first, rest and all return fresh slices: reminders never share the
// policy's backing array (nor one another's).
func (p ReminderPolicy) first() []IncidentRole {
	if len(p.Whom) == 0 {
		return []IncidentRole{SeatCommander}
	}
	return []IncidentRole{p.Whom[0]}
}

func (p ReminderPolicy) all() []IncidentRole {
	return append(p.first(), p.rest()...)
}

func (p ReminderPolicy) rest() []IncidentRole {
	if len(p.Whom) <= 1 {
		return nil
	}
	return append([]IncidentRole{}, p.Whom[1:]...)
}

// Current is the reminder the obligation calls for at now: the latest step
// whose time has come (an earlier step that was missed, say while Herald was
// down, is superseded by the later one), and the time of the next step, if
// any. Firing Current at each wake, deduplicated by its key, keeps every
// replica in agreement.
func (a Audience) Current(ob Obligation, now time.Time) (cur *Reminder, next time.Time) {
	return a.CurrentWith(ob, nil, now)
}

// CurrentWith is Current after the answers given to the obligation's
// reminders so far.
func (a Audience) CurrentWith(ob Obligation, answers []ReminderResponse, now time.Time) (cur *Reminder, next time.Time) {
	steps := a.RemindersWith(ob, answers, now.Add(a.ReminderPolicy.Every))
	for i := range steps {
		if steps[i].At.After(now) {
			return cur, steps[i].At
		}
		cur = &steps[i]
	}
	return cur, time.Time{}
}

// AudienceByKey finds an audience of the plan.
func (p Plan) AudienceByKey(key string) (Audience, bool) {
	for _, a := range p.Audiences {
		if a.Key == key {
			return a, true
		}
	}
	return Audience{}, false
}

// Describe says an obligation in words, for reminders and the board:
// "Executive Team update due 14:30 UTC".
func (o Obligation) Describe(a Audience, loc *time.Location) string {
	return fmt.Sprintf("%s %s due %s", a.Name, StepLabel(o.Step), o.Due.In(loc).Format("15:04 MST, 2 Jan"))
}

// MessageTimes lists when an audience was told about an incident, oldest
// first: its recorded communications and, for the status page's audience,
// every public update however it was posted (the console, the admin API, a
// reopening), since the update is the message.
func MessageTimes(in Incident, a Audience, told []Communication) []time.Time {
	page := slices.Contains(a.Channels, ChannelStatusPage)
	var out []time.Time
	for _, c := range told {
		if c.IncidentID != in.ID || c.Audience != a.Key || (page && c.UpdateID != "") {
			continue
		}
		out = append(out, c.CreatedAt)
	}
	if page {
		for _, u := range in.Updates {
			out = append(out, u.CreatedAt)
		}
	}
	slices.SortFunc(out, func(x, y time.Time) int { return x.Compare(y) })
	return out
}

// lastTold is when each audience was last told about the incident.
func lastTold(plan Plan, in Incident, told []Communication) map[string]time.Time {
	last := map[string]time.Time{}
	for _, a := range plan.Audiences {
		if ts := MessageTimes(in, a, told); len(ts) > 0 {
			last[a.Key] = ts[len(ts)-1]
		}
	}
	return last
}

func reported(reports []RegulatorReport, incidentID, step string) bool {
	for _, r := range reports {
		if r.IncidentID == incidentID && r.Step == step {
			return true
		}
	}
	return false
}
