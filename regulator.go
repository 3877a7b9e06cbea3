package herald

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// RegulatorAudience is the plan's audience for regulators: the one with a
// regulatory clock, or else a conditional deadline audience; false when
// the plan has none.
func (p Plan) RegulatorAudience() (Audience, bool) {
	for _, a := range p.Audiences {
		if a.Regulatory != nil {
			return a, true
		}
	}
	for _, a := range p.Audiences {
		if a.Conditional && a.Cadence.Kind == Deadline {
			return a, true
		}
	}
	return Audience{}, false
}

// RegulatorsRequired says whether the plan requires regulator notification
// for an incident of this impact (the regulator audience's required_for).
func (p Plan) RegulatorsRequired(imp Impact) bool {
	a, ok := p.RegulatorAudience()
	return ok && slices.Contains(a.RequiredFor, imp)
}

// FlagRegulators marks the incident as needing regulator notification from
// now: the regulatory clock starts at this classification.
func (in *Incident) FlagRegulators(now time.Time) error {
	switch {
	case in.Kind != KindIncident:
		return &ValidationError{Field: "regulators", Problem: "a maintenance has no regulator clock"}
	case in.NotifyRegulators:
		return &ValidationError{Field: "regulators", Problem: "the incident is already marked as needing regulator notification"}
	}
	in.NotifyRegulators = true
	in.RegulatorsAt = &now
	return nil
}

// StepLabel names a step in words: "initial notification".
func StepLabel(step string) string {
	switch step {
	case StepInitial:
		return "initial notification"
	case StepIntermediate:
		return "intermediate report"
	case StepFinal:
		return "final report"
	case StepDeadline:
		return "notification"
	}
	return "update"
}

// CheckRegulatorReport validates a regulator call about to be recorded and
// returns the obligation it satisfies: the incident must be owed a step,
// the report must be for that step (an empty Step means it), name who
// called whom, and be dated between the incident's start and now.
func CheckRegulatorReport(plan Plan, in Incident, reports []RegulatorReport, r RegulatorReport, now time.Time) (Obligation, error) {
	a, ok := plan.RegulatorAudience()
	if !ok {
		return Obligation{}, &ValidationError{Field: "step", Problem: "the plan has no regulator audience"}
	}
	if !in.NotifyRegulators {
		return Obligation{}, &ValidationError{Field: "step",
			Problem: "this incident is not marked as needing regulator notification"}
	}
	var owed *Obligation
	for _, ob := range Obligations(plan, in, nil, reports) {
		if ob.Audience == a.Key {
			owed = &ob
		}
	}
	var errs ValidationErrors
	switch {
	case owed == nil:
		errs.Add("step", "every regulatory step of this incident is already recorded")
	case r.Step != "" && r.Step != owed.Step:
		errs.Add("step", fmt.Sprintf("the next step is the %s; record that first", StepLabel(owed.Step)))
	}
	checkText(&errs, "called_by", r.CalledBy, MaxNameLen)
	checkText(&errs, "whom", r.Whom, MaxNameLen)
	switch {
	case r.At.IsZero():
		errs.Add("at", "must be a date and time")
	case r.At.After(now.Add(5 * time.Minute)):
		errs.Add("at", "is in the future: record a call once it is made")
	case r.At.Before(in.StartedAt.Add(-time.Minute)):
		errs.Add("at", "is before the incident started")
	case owed != nil && (owed.Step == StepIntermediate || owed.Step == StepFinal) && r.At.Before(owed.Since):
		errs.Add("at", "is before the previous step was recorded as done ("+owed.Since.UTC().Format("2 Jan 15:04 MST")+")")
	}
	if n := utf8.RuneCountInString(r.Reference); n > MaxNameLen {
		errs.Add("reference", fmt.Sprintf("is %d characters; the limit is %d", n, MaxNameLen))
	}
	if n := utf8.RuneCountInString(r.Notes); n > MaxBodyLen {
		errs.Add("notes", fmt.Sprintf("is %d characters; the limit is %d", n, MaxBodyLen))
	}
	if err := errs.Err(); err != nil {
		return Obligation{}, err
	}
	return *owed, nil
}

// TrimReport tidies a report's text fields before it is checked.
func TrimReport(r RegulatorReport) RegulatorReport {
	r.Step = strings.TrimSpace(r.Step)
	r.CalledBy = strings.TrimSpace(r.CalledBy)
	r.Whom = strings.TrimSpace(r.Whom)
	r.Reference = strings.TrimSpace(r.Reference)
	r.Notes = strings.TrimSpace(r.Notes)
	return r
}

// RoundDuration rounds for people: seconds under a minute, minutes above.
func RoundDuration(d time.Duration) string {
	if s := d.Round(time.Second); s < time.Minute {
		return s.String()
	}
	d = d.Round(time.Minute)
	h, m := int(d.Hours()), int(d.Minutes())%60
	switch {
	case h == 0:
		return fmt.Sprintf("%d min", m)
	case m == 0:
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}
