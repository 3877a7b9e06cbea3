package herald

import (
	"fmt"
	"strings"
	"time"
)

// ProcedureKind says which part of the failover catalogue a procedure is.
type ProcedureKind string

// The procedure kinds.
const (
	ProcedureRegion    ProcedureKind = "region"    // a region failover in stages
	ProcedureRunbook   ProcedureKind = "runbook"   // a documented manual procedure
	ProcedureComponent ProcedureKind = "component" // one part's failure response
)

// Procedure is one entry of the failover catalogue as an incident can run
// it: its steps with their expected windows, who must approve it and who may
// execute it.
type Procedure struct {
	Kind         ProcedureKind
	Key          string
	Name         string
	Description  string
	Warning      string
	Automatic    bool // the region failover runs by itself (Route 53): Herald follows it
	ApproverRole Role // empty: no approval needed
	ExecutorRole Role // empty: whoever manages incidents
	Precondition string
	// MaxReplicationLag is the precondition's threshold: the executor enters
	// the measured lag, and a lag at or above it refuses the start.
	MaxReplicationLag time.Duration
	AutomationURL     string // empty: people run the steps
	Steps             []ProcedureStep
}

// ProcedureStep is one step of a procedure: a stage of a region failover or
// of a runbook, with the window it is expected to end in, measured from the
// action's start (zero: no window).
type ProcedureStep struct {
	Name        string
	Detail      string // the stage's steps or its command, shown as text
	WindowStart time.Duration
	WindowEnd   time.Duration
}

// Gated reports whether the procedure needs an approval before it starts.
func (p Procedure) Gated() bool { return p.ApproverRole != "" }

// Procedures lists the catalogue as runnable procedures: region failovers,
// runbooks, then component failovers.
func (p Plan) Procedures() []Procedure {
	var out []Procedure
	for _, r := range p.Failover.Regions {
		pr := Procedure{Kind: ProcedureRegion, Key: r.Key, Name: r.Name, Automatic: r.Automatic,
			Description: fmt.Sprintf("Fail over from %s to %s.", r.From, r.To), AutomationURL: r.AutomationURL,
			ApproverRole: Role(r.ApproverRole), ExecutorRole: Role(r.ExecutorRole)}
		for _, s := range r.Stages {
			pr.Steps = append(pr.Steps, ProcedureStep{Name: s.Name, Detail: stageDetail(s), WindowStart: s.WindowStart, WindowEnd: s.WindowEnd})
		}
		out = append(out, pr)
	}
	for _, r := range p.Failover.Runbooks {
		pr := Procedure{Kind: ProcedureRunbook, Key: r.Key, Name: r.Name, Description: r.Description, Warning: r.Warning,
			ApproverRole: Role(r.ApproverRole), ExecutorRole: Role(r.ExecutorRole), Precondition: r.Precondition,
			MaxReplicationLag: time.Duration(r.ReplicationLagMs) * time.Millisecond, AutomationURL: r.AutomationURL}
		// A runbook's stages carry estimates, not windows: each stage is
		// expected to end when the estimates before it and its own add up.
		var at time.Duration
		for _, s := range r.Stages {
			step := ProcedureStep{Name: s.Name, Detail: stageDetail(s)}
			switch {
			case s.WindowEnd > 0:
				step.WindowStart, step.WindowEnd = s.WindowStart, s.WindowEnd
			case s.EstimatedTime > 0:
				step.WindowStart, step.WindowEnd = at, at+s.EstimatedTime
				at += s.EstimatedTime
			}
			pr.Steps = append(pr.Steps, step)
		}
		out = append(out, pr)
	}
	for _, c := range p.Failover.Components {
		detail := c.Response
		if c.AutoRecovery {
			detail += " (recovers automatically)"
		}
		out = append(out, Procedure{Kind: ProcedureComponent, Key: c.Key, Name: c.Name + " failover", Description: c.Response,
			Automatic: c.AutoRecovery, Steps: []ProcedureStep{{Name: c.Response, Detail: detail}, {Name: "Recovery verified"}}})
	}
	return out
}

func stageDetail(s Stage) string {
	if s.Command != "" {
		return strings.TrimRight(s.Command, "\n")
	}
	return strings.Join(s.Steps, "\n")
}

// Procedure finds a procedure of the catalogue by kind and key.
func (p Plan) Procedure(kind ProcedureKind, key string) (Procedure, bool) {
	for _, pr := range p.Procedures() {
		if pr.Kind == kind && pr.Key == key {
			return pr, true
		}
	}
	return Procedure{}, false
}

// ActionState is where a failover action stands.
type ActionState string

// The action states.
const (
	ActionAwaitingApproval ActionState = "awaiting_approval" // gated: requested, not yet decided
	ActionApproved         ActionState = "approved"          // gated: approved, waiting for its executor
	ActionRefused          ActionState = "refused"           // gated: the approver said no
	ActionRunning          ActionState = "running"
	ActionCompleted        ActionState = "completed" // every step done or skipped
	ActionFailed           ActionState = "failed"
	ActionCancelled        ActionState = "cancelled"
)

// Label is the state in words.
func (s ActionState) Label() string {
	switch s {
	case ActionAwaitingApproval:
		return "Awaiting approval"
	case ActionApproved:
		return "Approved, not started"
	}
	return strings.ToUpper(string(s[:1])) + string(s[1:])
}

// Final says the action will not change again.
func (s ActionState) Final() bool {
	return s == ActionRefused || s == ActionCompleted || s == ActionFailed || s == ActionCancelled
}

// StepState is where one step of an action stands.
type StepState string

// The step states.
const (
	StepPending StepState = "pending"
	StepRunning StepState = "running"
	StepDone    StepState = "done"
	StepFailed  StepState = "failed"
	StepSkipped StepState = "skipped"
)

// StepStates lists the step states in the order a step goes through them.
var StepStates = []StepState{StepPending, StepRunning, StepDone, StepFailed, StepSkipped}

// ParseStepState checks s against the step states.
func ParseStepState(s string) (StepState, error) {
	for _, st := range StepStates {
		if string(st) == s {
			return st, nil
		}
	}
	return "", invalid("state", s, StepStates)
}

// Finished says the step needs nothing more.
func (s StepState) Finished() bool { return s == StepDone || s == StepSkipped }

// Action is one procedure run for an incident: requested, approved when it is
// gated, executed step by step, with every decision's who and when.
type Action struct {
	ID           string
	IncidentID   string
	Kind         ProcedureKind
	Key          string
	Name         string
	State        ActionState
	Reason       string // why it was requested
	Rule         string // the rule that started it, when no person did
	RequestedBy  Actor
	RequestedAt  time.Time
	DecidedBy    Actor // the approver who approved or refused
	DecidedAt    *time.Time
	DecisionNote string
	StartedBy    Actor
	StartedAt    *time.Time
	FinishedAt   *time.Time
	Precondition string // what was checked at the start, in words
	// Automation: the endpoint Herald calls once the action may run, and
	// what became of the call (queued, sent, failed) and its last error.
	AutomationURL   string
	AutomationState string
	AutomationError string
	Steps           []ActionStep
	Version         int
}

// ActionStep is one step of an action.
type ActionStep struct {
	Position     int // 1-based
	Name         string
	Detail       string
	WindowStart  time.Duration
	WindowEnd    time.Duration // 0: no expected window
	State        StepState
	StartedAt    *time.Time
	FinishedAt   *time.Time
	Actor        string
	Note         string
	LateReported bool // the commander was told it is late
}

// Due is when the step is expected to be done; false when it has no window
// or the action has not started.
func (a Action) Due(st ActionStep) (time.Time, bool) {
	if st.WindowEnd <= 0 || a.StartedAt == nil {
		return time.Time{}, false
	}
	return a.StartedAt.Add(st.WindowEnd), true
}

// Late reports whether a step is past its window: still unfinished after its
// expected end, or finished after it.
func (a Action) Late(st ActionStep, now time.Time) bool {
	due, ok := a.Due(st)
	if !ok || st.State == StepSkipped {
		return false
	}
	if st.FinishedAt != nil && st.State == StepDone {
		return st.FinishedAt.After(due)
	}
	return a.State == ActionRunning && now.After(due)
}

// LateSteps lists the running action's steps past their window and not yet
// reported to the commander.
func (a Action) LateSteps(now time.Time) []ActionStep {
	if a.State != ActionRunning {
		return nil
	}
	var out []ActionStep
	for _, st := range a.Steps {
		if !st.Finished() && !st.LateReported && a.Late(st, now) {
			out = append(out, st)
		}
	}
	return out
}

// NextDue is the earliest window end among the running action's unfinished
// steps not yet reported late: when the engine should look again.
func (a Action) NextDue() (time.Time, bool) {
	var next time.Time
	if a.State != ActionRunning {
		return next, false
	}
	for _, st := range a.Steps {
		if st.Finished() || st.LateReported {
			continue
		}
		if due, ok := a.Due(st); ok && (next.IsZero() || due.Before(next)) {
			next = due
		}
	}
	return next, !next.IsZero()
}

// Finished reports whether the step is done or skipped.
func (st ActionStep) Finished() bool { return st.State.Finished() }

// ActionRequest is what a commander (or a rule) asks for.
type ActionRequest struct {
	Kind   ProcedureKind
	Key    string
	Reason string
	Rule   string // set when a rule, not a person, starts it
}

// MaxReasonLen bounds a request's reason and a decision's note.
const MaxReasonLen = 2000

// RequestAction makes a new action for an incident. A gated procedure waits
// for approval; any other starts at once. by is the person asking; a rule
// asks as the engine (by.ID empty).
func RequestAction(p Procedure, in Incident, req ActionRequest, by User, now time.Time) (Action, error) {
	if by.ID != "" && !by.Role.Can(PermManageIncidents) {
		return Action{}, fmt.Errorf("%w: starting a failover action needs the commander role", ErrForbidden)
	}
	if !in.Open() && req.Rule == "" {
		return Action{}, fmt.Errorf("%w: the incident is %s; reopen it first", ErrClosed, in.Status)
	}
	var errs ValidationErrors
	req.Reason = strings.TrimSpace(req.Reason)
	if len([]rune(req.Reason)) > MaxReasonLen {
		errs.Add("reason", fmt.Sprintf("must be at most %d characters", MaxReasonLen))
	}
	if p.Gated() && req.Reason == "" {
		errs.Add("reason", "say why: the approver reads it before deciding")
	}
	if err := errs.Err(); err != nil {
		return Action{}, err
	}
	a := Action{IncidentID: in.ID, Kind: p.Kind, Key: p.Key, Name: p.Name, Reason: req.Reason, Rule: req.Rule,
		RequestedBy: actorOf(by), RequestedAt: now, AutomationURL: p.AutomationURL, Version: 1}
	for i, s := range p.Steps {
		a.Steps = append(a.Steps, ActionStep{Position: i + 1, Name: s.Name, Detail: s.Detail, WindowStart: s.WindowStart,
			WindowEnd: s.WindowEnd, State: StepPending})
	}
	a.State = ActionAwaitingApproval
	if !p.Gated() {
		a.start(actorOf(by), now)
	}
	return a, nil
}

func actorOf(u User) Actor {
	if u.ID == "" {
		return Actor{Name: EngineActor}
	}
	return Actor{ID: u.ID, Name: u.Name}
}

func (a *Action) start(by Actor, now time.Time) {
	a.State = ActionRunning
	a.StartedBy = by
	a.StartedAt = &now
	if a.AutomationURL != "" {
		a.AutomationState = "queued"
	}
}

// Decide approves or refuses a gated action. Only the procedure's approver
// role decides, never the person who asked, and only once: an action
// cancelled, refused or already approved cannot be decided again.
func (a *Action) Decide(p Procedure, approve bool, by User, note string, now time.Time) error {
	if !p.Gated() {
		return fmt.Errorf("%w: %s needs no approval", ErrInvalidTransition, a.Name)
	}
	if by.Role != p.ApproverRole || !by.Role.Can(PermApprove) {
		return fmt.Errorf("%w: only the %s role approves %s", ErrForbidden, p.ApproverRole.Label(), a.Name)
	}
	if by.ID == a.RequestedBy.ID {
		return fmt.Errorf("%w: you asked for this action; another approver must decide", ErrForbidden)
	}
	if a.State != ActionAwaitingApproval {
		return fmt.Errorf("%w: the action is %s; it cannot be decided now", ErrInvalidTransition, strings.ToLower(a.State.Label()))
	}
	note = strings.TrimSpace(note)
	var errs ValidationErrors
	if len([]rune(note)) > MaxReasonLen {
		errs.Add("note", fmt.Sprintf("must be at most %d characters", MaxReasonLen))
	}
	if !approve && note == "" {
		errs.Add("note", "say why it is refused")
	}
	if err := errs.Err(); err != nil {
		return err
	}
	a.DecidedBy, a.DecidedAt, a.DecisionNote = actorOf(by), &now, note
	a.State = ActionRefused
	if approve {
		a.State = ActionApproved
		if a.AutomationURL != "" && p.ExecutorRole == "" && p.MaxReplicationLag == 0 {
			// The automation executes what was approved: it starts now.
			// A procedure with an executor or a precondition waits for its
			// executor, whose start then calls the automation.
			a.start(Actor{Name: "automation"}, now)
		}
	}
	a.Version++
	return nil
}

// CanExecute reports whether the user may start the action and move its
// steps: the procedure's executor role when it names one (database runbooks:
// the DBA), else whoever runs failover actions.
func (p Procedure) CanExecute(u User) bool {
	if p.ExecutorRole != "" {
		return u.Role == p.ExecutorRole && u.Role.Can(PermExecuteDBRunbook)
	}
	return u.Role.Can(PermRunActions)
}

// Execute starts an approved gated action. lag is the replication lag the
// executor measured, checked against the procedure's precondition when it
// has one (nil when it has none).
func (a *Action) Execute(p Procedure, by User, lag *time.Duration, now time.Time) error {
	if !p.CanExecute(by) {
		return fmt.Errorf("%w: only the %s role executes %s", ErrForbidden, p.ExecutorLabel(), a.Name)
	}
	if a.State != ActionApproved {
		if a.State == ActionAwaitingApproval {
			return fmt.Errorf("%w: %s is not approved yet", ErrInvalidTransition, a.Name)
		}
		return fmt.Errorf("%w: the action is %s", ErrInvalidTransition, strings.ToLower(a.State.Label()))
	}
	if p.MaxReplicationLag > 0 {
		switch {
		case lag == nil:
			return &ValidationError{Field: "replication_lag_ms", Problem: "enter the replication lag you measured on the standby (in ms)"}
		case *lag < 0:
			return &ValidationError{Field: "replication_lag_ms", Problem: "must not be negative"}
		case *lag >= p.MaxReplicationLag:
			return &ValidationError{Field: "replication_lag_ms", Problem: fmt.Sprintf(
				"%d ms is not under %d ms: the precondition is not met; wait for the standby to catch up",
				*lag/time.Millisecond, p.MaxReplicationLag/time.Millisecond)}
		}
		a.Precondition = fmt.Sprintf("Replication lag %d ms, under %d ms", *lag/time.Millisecond, p.MaxReplicationLag/time.Millisecond)
	}
	a.start(actorOf(by), now)
	a.Version++
	return nil
}

// ExecutorLabel names who starts the procedure and moves its steps.
func (p Procedure) ExecutorLabel() string {
	if p.ExecutorRole != "" {
		return p.ExecutorRole.Label()
	}
	return "commander"
}

// Cancel stops an action that has not finished. The requester or anyone
// who manages incidents may cancel.
func (a *Action) Cancel(by User, reason string, now time.Time) error {
	if by.ID != a.RequestedBy.ID && !by.Role.Can(PermManageIncidents) {
		return fmt.Errorf("%w: only the requester or a commander cancels an action", ErrForbidden)
	}
	if a.State.Final() {
		return fmt.Errorf("%w: the action is already %s", ErrInvalidTransition, strings.ToLower(a.State.Label()))
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return &ValidationError{Field: "reason", Problem: "say why it is cancelled"}
	}
	if len([]rune(reason)) > MaxReasonLen {
		return &ValidationError{Field: "reason", Problem: fmt.Sprintf("must be at most %d characters", MaxReasonLen)}
	}
	a.State = ActionCancelled
	a.FinishedAt = &now
	a.DecisionNote = strings.TrimSpace(a.DecisionNote + "\nCancelled: " + reason)
	a.Version++
	return nil
}

// StepChange moves one step of a running action.
type StepChange struct {
	Position int
	State    StepState
	Note     string
	At       time.Time // when it happened; zero: now. Automation reports its own times.
}

// SetStep moves a step: pending → running → done or failed; pending or
// failed → skipped; failed → running (tried again). A step may not start
// before the steps ahead of it are done or skipped. When every step is done
// or skipped the action completes; a failed step leaves the action running
// for a retry, a skip or a cancel. by nil means the automation reported it.
func (a *Action) SetStep(p Procedure, c StepChange, by *User, now time.Time) (ActionStep, error) {
	actor := "automation"
	if by != nil {
		if !p.CanExecute(*by) {
			return ActionStep{}, fmt.Errorf("%w: only the %s role runs the steps of %s", ErrForbidden, p.ExecutorLabel(), a.Name)
		}
		actor = by.Name
	}
	if a.State != ActionRunning {
		return ActionStep{}, fmt.Errorf("%w: the action is %s, not running", ErrInvalidTransition, strings.ToLower(a.State.Label()))
	}
	if c.Position < 1 || c.Position > len(a.Steps) {
		return ActionStep{}, fmt.Errorf("%w: step %d: the action has steps 1 to %d", ErrNotFound, c.Position, len(a.Steps))
	}
	at := now
	if !c.At.IsZero() {
		if c.At.After(now.Add(time.Minute)) {
			return ActionStep{}, &ValidationError{Field: "at", Problem: "is in the future"}
		}
		if a.StartedAt != nil && c.At.Before(*a.StartedAt) {
			return ActionStep{}, &ValidationError{Field: "at", Problem: "is before the action started"}
		}
		at = c.At
	}
	if len([]rune(c.Note)) > MaxReasonLen {
		return ActionStep{}, &ValidationError{Field: "note", Problem: fmt.Sprintf("must be at most %d characters", MaxReasonLen)}
	}
	st := &a.Steps[c.Position-1]
	from := st.State
	ok := false
	switch c.State {
	case StepRunning:
		ok = from == StepPending || from == StepFailed
	case StepDone:
		ok = from == StepPending || from == StepRunning
	case StepFailed:
		ok = from == StepRunning || from == StepPending
	case StepSkipped:
		ok = from == StepPending || from == StepFailed
	}
	if !ok {
		return ActionStep{}, fmt.Errorf("%w: step %d is %s; it cannot become %s", ErrInvalidTransition, st.Position, from, c.State)
	}
	if c.State == StepRunning || c.State == StepDone {
		for _, before := range a.Steps[:c.Position-1] {
			if !before.Finished() {
				return ActionStep{}, fmt.Errorf("%w: step %d (%s) is %s; finish or skip it first", ErrInvalidTransition,
					before.Position, before.Name, before.State)
			}
		}
	}
	if c.State == StepFailed && strings.TrimSpace(c.Note) == "" {
		return ActionStep{}, &ValidationError{Field: "note", Problem: "say what went wrong"}
	}
	st.State = c.State
	st.Actor = actor
	if n := strings.TrimSpace(c.Note); n != "" {
		st.Note = n
	}
	switch c.State {
	case StepRunning:
		st.StartedAt, st.FinishedAt = &at, nil
	case StepDone, StepFailed, StepSkipped:
		if st.StartedAt == nil && c.State != StepSkipped {
			st.StartedAt = &at
		}
		st.FinishedAt = &at
	}
	done := true
	for _, s := range a.Steps {
		done = done && s.Finished()
	}
	if done {
		a.State = ActionCompleted
		a.FinishedAt = &at
	}
	a.Version++
	return *st, nil
}

// Fail marks a running action failed: it will not be completed.
func (a *Action) Fail(p Procedure, by User, reason string, now time.Time) error {
	if !p.CanExecute(by) && !by.Role.Can(PermManageIncidents) {
		return fmt.Errorf("%w: only the %s role or a commander marks %s failed", ErrForbidden, p.ExecutorLabel(), a.Name)
	}
	if a.State != ActionRunning {
		return fmt.Errorf("%w: the action is %s, not running", ErrInvalidTransition, strings.ToLower(a.State.Label()))
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return &ValidationError{Field: "reason", Problem: "say what failed"}
	}
	a.State = ActionFailed
	a.FinishedAt = &now
	a.DecisionNote = strings.TrimSpace(a.DecisionNote + "\nFailed: " + reason)
	a.Version++
	return nil
}

// HumanDuration writes a duration for people: "45 s", "8 min", "2 h 15 min",
// "3 d 4 h".
func HumanDuration(d time.Duration) string {
	if d < 0 {
		return "-" + HumanDuration(-d)
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return fmt.Sprintf("%d d", days)
	}
	return fmt.Sprintf("%d d %d h", days, h)
}
