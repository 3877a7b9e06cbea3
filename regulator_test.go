package herald

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// rgProblems lists an error's problems as field: problem, in order, for
// both a single *ValidationError and ValidationErrors.
func rgProblems(err error) []string {
	var list ValidationErrors
	if errors.As(err, &list) {
		out := make([]string, len(list))
		for i, e := range list {
			out[i] = e.Error()
		}
		return out
	}
	var one *ValidationError
	if errors.As(err, &one) {
		return []string{one.Error()}
	}
	return nil
}

// rgCall is a valid call about the initial notification of obIncident,
// made an hour after it started.
func rgCall(edit ...func(r *RegulatorReport)) RegulatorReport {
	r := RegulatorReport{IncidentID: "inc-1", Step: StepInitial, CalledBy: "Ada Obi", Whom: "Central Bank, J. Obi",
		At: obAt(time.Hour), Reference: "CBN-1", Notes: "Read the notice."}
	for _, e := range edit {
		e(&r)
	}
	return r
}

func TestPlanRegulatorAudience(t *testing.T) {
	within := Audience{Key: "board", Cadence: Cadence{Kind: Deadline, Interval: 4 * time.Hour}, Conditional: true}
	plain := Audience{Key: "auditors", Cadence: Cadence{Kind: Deadline, Interval: 4 * time.Hour}}
	tests := []struct {
		name   string
		plan   Plan
		want   string
		wantOK bool
	}{
		{"the regulatory clock first", obligationPlan(), "regulators", true},
		{"else a conditional deadline", Plan{Audiences: []Audience{plain, within}}, "board", true},
		{"an unconditional deadline is not one", Plan{Audiences: []Audience{plain}}, "", false},
		{"none", Plan{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, ok := tt.plan.RegulatorAudience()
			if a.Key != tt.want || ok != tt.wantOK {
				t.Errorf("RegulatorAudience = %q, %v; want %q, %v", a.Key, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestStepLabel(t *testing.T) {
	for step, want := range map[string]string{
		StepInitial: "initial notification", StepIntermediate: "intermediate report", StepFinal: "final report",
		StepDeadline: "notification", StepUpdate: "update", "": "update",
	} {
		if got := StepLabel(step); got != want {
			t.Errorf("StepLabel(%q) = %q; want %q", step, got, want)
		}
	}
}

func TestCheckRegulatorReport(t *testing.T) {
	h := time.Hour
	now := obAt(2 * h)
	long := strings.Repeat("é", MaxNameLen+1) // runes, not bytes, are counted
	noRegulators := obligationPlan()
	noRegulators.Audiences = noRegulators.Audiences[:3] // engineering, executives, public
	onlyBoard := obligationPlan()
	onlyBoard.Audiences = onlyBoard.Audiences[:4] // a plain "within 4h" conditional audience
	regs := func(st string, since, due time.Duration) Obligation {
		return Obligation{IncidentID: "inc-1", Audience: "regulators", Step: st, Since: obAt(since), Due: obAt(due), Action: DueRemind}
	}
	tests := []struct {
		name    string
		plan    Plan
		in      Incident
		reports []RegulatorReport
		r       RegulatorReport
		now     time.Time
		want    Obligation
		wantErr []string // field: problem; nil for a valid report
	}{
		{
			name: "valid: the initial notification",
			in:   obIncident(obRegulated), r: rgCall(),
			want: regs(StepInitial, 0, 4*h),
		},
		{
			name: "valid: an empty step means the next one",
			in:   obIncident(obRegulated), r: rgCall(func(r *RegulatorReport) { r.Step = "" }),
			want: regs(StepInitial, 0, 4*h),
		},
		{
			name: "valid: the intermediate report after the initial one, due 72h after its time",
			in:   obIncident(obRegulated), reports: []RegulatorReport{obReport(StepInitial, 3*h)},
			r: rgCall(func(r *RegulatorReport) { r.Step, r.At = StepIntermediate, obAt(5*h) }), now: obAt(6 * h),
			want: regs(StepIntermediate, 3*h, 75*h),
		},
		{
			name: "valid: classified late, due at awareness + 24h",
			in:   obIncident(obRegulated, func(in *Incident) { in.RegulatorsAt = obPtr(obAt(22 * h)) }),
			r:    rgCall(), now: obAt(23 * h),
			want: regs(StepInitial, 22*h, 24*h),
		},
		{
			name: "valid: the incident is resolved, the clock goes on",
			in:   obIncident(obRegulated, obResolved), reports: []RegulatorReport{obReport(StepInitial, 1*h)},
			r: rgCall(func(r *RegulatorReport) { r.Step, r.At = StepIntermediate, obAt(30*h) }), now: obAt(31 * h),
			want: regs(StepIntermediate, 1*h, 73*h),
		},
		{
			name: "valid: at exactly 5 minutes ahead (a clock a little behind)",
			in:   obIncident(obRegulated),
			r:    rgCall(func(r *RegulatorReport) { r.At = now.Add(5 * time.Minute) }),
			want: regs(StepInitial, 0, 4*h),
		},
		{
			name: "valid: a minute before the incident started",
			in:   obIncident(obRegulated),
			r:    rgCall(func(r *RegulatorReport) { r.At = obAt(-time.Minute) }),
			want: regs(StepInitial, 0, 4*h),
		},
		{
			name: "valid: a plain conditional deadline audience",
			plan: onlyBoard, in: obIncident(obRegulated),
			r:    rgCall(func(r *RegulatorReport) { r.Step = StepDeadline }),
			want: Obligation{IncidentID: "inc-1", Audience: "board", Step: StepDeadline, Since: obT0, Due: obAt(4 * h), Action: DueRemind},
		},
		{
			name: "the plan has no regulator audience",
			plan: noRegulators, in: obIncident(obRegulated), r: rgCall(),
			wantErr: []string{"step: the plan has no regulator audience"},
		},
		{
			name: "the incident is not flagged",
			in:   obIncident(), r: rgCall(),
			wantErr: []string{"step: this incident is not marked as needing regulator notification"},
		},
		{
			name: "the wrong step names the next one",
			in:   obIncident(obRegulated), r: rgCall(func(r *RegulatorReport) { r.Step = StepFinal }),
			wantErr: []string{"step: the next step is the initial notification; record that first"},
		},
		{
			name: "the wrong step after the initial notification",
			in:   obIncident(obRegulated), reports: []RegulatorReport{obReport(StepInitial, h)},
			r:       rgCall(),
			wantErr: []string{"step: the next step is the intermediate report; record that first"},
		},
		{
			name: "an intermediate report dated before the initial notification",
			in:   obIncident(obRegulated), reports: []RegulatorReport{obReport(StepInitial, 3*h)},
			r: rgCall(func(r *RegulatorReport) { r.Step, r.At = StepIntermediate, obAt(2*h) }), now: obAt(6 * h),
			wantErr: []string{"at: is before the previous step was recorded as done (" + obAt(3*h).UTC().Format("2 Jan 15:04 MST") + ")"},
		},
		{
			name: "every step recorded",
			in:   obIncident(obRegulated),
			reports: []RegulatorReport{obReport(StepInitial, h), obReport(StepIntermediate, 50*h),
				obReport(StepFinal, 600*h)},
			r: rgCall(func(r *RegulatorReport) { r.Step, r.At = StepFinal, obAt(601*h) }), now: obAt(602 * h),
			wantErr: []string{"step: every regulatory step of this incident is already recorded"},
		},
		{
			name: "every step recorded, even with an empty step",
			in:   obIncident(obRegulated),
			reports: []RegulatorReport{obReport(StepInitial, h), obReport(StepIntermediate, 50*h),
				obReport(StepFinal, 600*h)},
			r: rgCall(func(r *RegulatorReport) { r.Step, r.At = "", obAt(601*h) }), now: obAt(602 * h),
			wantErr: []string{"step: every regulatory step of this incident is already recorded"},
		},
		{
			name: "called_by and whom empty",
			in:   obIncident(obRegulated), r: rgCall(func(r *RegulatorReport) { r.CalledBy, r.Whom = "", " \t" }),
			wantErr: []string{"called_by: must not be empty", "whom: must not be empty"},
		},
		{
			name: "called_by and whom too long",
			in:   obIncident(obRegulated), r: rgCall(func(r *RegulatorReport) { r.CalledBy, r.Whom = long, long }),
			wantErr: []string{"called_by: is 201 characters; the limit is 200", "whom: is 201 characters; the limit is 200"},
		},
		{
			name: "at zero",
			in:   obIncident(obRegulated), r: rgCall(func(r *RegulatorReport) { r.At = time.Time{} }),
			wantErr: []string{"at: must be a date and time"},
		},
		{
			name: "at more than 5 minutes in the future",
			in:   obIncident(obRegulated), r: rgCall(func(r *RegulatorReport) { r.At = now.Add(5*time.Minute + time.Second) }),
			wantErr: []string{"at: is in the future: record a call once it is made"},
		},
		{
			name: "at before the incident started",
			in:   obIncident(obRegulated), r: rgCall(func(r *RegulatorReport) { r.At = obAt(-time.Minute - time.Second) }),
			wantErr: []string{"at: is before the incident started"},
		},
		{
			name: "at before a start earlier than the declaration",
			in:   obIncident(obRegulated, func(in *Incident) { in.StartedAt = obAt(-3 * h) }),
			r:    rgCall(func(r *RegulatorReport) { r.At = obAt(-2 * h) }),
			want: regs(StepInitial, 0, 4*h),
		},
		{
			name: "reference and notes too long",
			in:   obIncident(obRegulated),
			r: rgCall(func(r *RegulatorReport) {
				r.Reference, r.Notes = strings.Repeat("r", MaxNameLen+1), strings.Repeat("n", MaxBodyLen+1)
			}),
			wantErr: []string{"reference: is 201 characters; the limit is 200", "notes: is 10001 characters; the limit is 10000"},
		},
		{
			name: "reference and notes at their limits",
			in:   obIncident(obRegulated),
			r: rgCall(func(r *RegulatorReport) {
				r.Reference, r.Notes = strings.Repeat("é", MaxNameLen), strings.Repeat("é", MaxBodyLen)
			}),
			want: regs(StepInitial, 0, 4*h),
		},
		{
			name: "every problem at once, each with its field",
			in:   obIncident(obRegulated),
			r: RegulatorReport{IncidentID: "inc-1", Step: StepIntermediate, At: now.Add(h),
				Reference: strings.Repeat("r", MaxNameLen+1), Notes: strings.Repeat("n", MaxBodyLen+1)},
			wantErr: []string{
				"step: the next step is the initial notification; record that first",
				"called_by: must not be empty",
				"whom: must not be empty",
				"at: is in the future: record a call once it is made",
				"reference: is 201 characters; the limit is 200",
				"notes: is 10001 characters; the limit is 10000",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := tt.plan
			if plan.Audiences == nil {
				plan = obligationPlan()
			}
			at := tt.now
			if at.IsZero() {
				at = now
			}
			got, err := CheckRegulatorReport(plan, tt.in, tt.reports, tt.r, at)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("CheckRegulatorReport: %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("obligation satisfied (-want +got):\n%s", diff)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			if diff := cmp.Diff(tt.wantErr, rgProblems(err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if got != (Obligation{}) {
				t.Errorf("a refused report returned the obligation %+v", got)
			}
		})
	}
}

func TestTrimReport(t *testing.T) {
	at := obAt(time.Hour)
	got := TrimReport(RegulatorReport{ID: " id ", Step: " initial\n", CalledBy: "  Ada ", Whom: "\tCBN ", At: at,
		Reference: " R-1 ", Notes: "\n notes \n"})
	want := RegulatorReport{ID: " id ", Step: "initial", CalledBy: "Ada", Whom: "CBN", At: at, Reference: "R-1", Notes: "notes"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("TrimReport (-want +got):\n%s", diff)
	}
}

func TestRoundDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{400 * time.Millisecond, "0s"},
		{500 * time.Millisecond, "1s"},
		{30 * time.Second, "30s"},
		{59 * time.Second, "59s"},
		{59*time.Second + 400*time.Millisecond, "59s"},
		{59*time.Second + 600*time.Millisecond, "1 min"}, // rounds up to a minute: said as one
		{time.Minute, "1 min"},
		{89 * time.Second, "1 min"},
		{90 * time.Second, "2 min"},
		{29*time.Minute + 29*time.Second, "29 min"},
		{59*time.Minute + 45*time.Second, "1 h"},
		{time.Hour, "1 h"},
		{61 * time.Minute, "1 h 1 min"},
		{90 * time.Minute, "1 h 30 min"},
		{2 * time.Hour, "2 h"},
		{26*time.Hour + 5*time.Minute, "26 h 5 min"},
		{720 * time.Hour, "720 h"},
	}
	for _, tt := range tests {
		if got := RoundDuration(tt.d); got != tt.want {
			t.Errorf("RoundDuration(%s) = %q; want %q", tt.d, got, tt.want)
		}
	}
}
