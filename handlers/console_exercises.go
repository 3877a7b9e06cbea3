package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
)

// ExerciseStore is what the DR exercises page reads and writes.
type ExerciseStore interface {
	Exercises(ctx context.Context) ([]herald.Exercise, error)
	RecordExercise(ctx context.Context, e herald.Exercise, plan herald.Plan, actor string) (herald.Exercise, error)
}

// exercisesForms is what a refused submission typed, shown again next to
// its errors.
type exercisesForms struct {
	record      components.ExerciseForm
	recordErrs  map[string]string
	drillKey    string
	drill       components.DrillForm
	drillErrors map[string]string
}

// exercisesPage shows the testing schedule, the log and the forms.
func (s *Server) exercisesPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderExercises(w, r, http.StatusOK, exercisesForms{})
}

func (s *Server) renderExercises(w http.ResponseWriter, r *http.Request, status int, f exercisesForms) error {
	ctx := r.Context()
	runs, err := s.console.Exercises(ctx)
	if err != nil {
		return err
	}
	comps, err := s.console.Components(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	if f.record == (components.ExerciseForm{}) {
		f.record.Date = now.In(s.loc).Format(time.DateOnly)
	}
	// The frame pops the flash from the session, which is saved when the
	// header is written: build it first.
	v := components.ExercisesView{Console: s.consoleFrame(r, "DR exercises", "exercises"), Objectives: s.plan.Objectives,
		Rows: herald.ExerciseBoard(s.plan.Exercises.Schedule, runs, now, s.loc), Schedule: s.plan.Exercises.Schedule,
		Components: comps, Now: now, Form: f.record, Errors: f.recordErrs, DrillKey: f.drillKey, Drill: f.drill,
		DrillErrors: f.drillErrors}
	for _, e := range runs {
		kind := e.Kind
		if spec, ok := s.plan.Exercises.Spec(e.Kind); ok {
			kind = spec.Name
		}
		v.Log = append(v.Log, components.ExerciseLogRow{Exercise: e, Kind: kind})
	}
	w.WriteHeader(status)
	s.render(w, r, components.Exercises(v))
	return nil
}

// recordExercise adds a run to the log. Refused, the page comes back (422)
// with each problem next to its field, what was typed kept, nothing stored.
func (s *Server) recordExercise(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	ctx := r.Context()
	form := components.ExerciseForm{Kind: r.PostFormValue("kind"), Name: r.PostFormValue("name"),
		Date: strings.TrimSpace(r.PostFormValue("date")), RTO: strings.TrimSpace(r.PostFormValue("rto")),
		RPO: strings.TrimSpace(r.PostFormValue("rpo")), Passed: r.PostFormValue("passed"), Notes: r.PostFormValue("notes"),
		IncidentID: strings.TrimSpace(r.PostFormValue("incident_id"))}
	e, errs := s.exerciseFromForm(form)
	var err error
	if len(errs) == 0 {
		_, err = s.console.RecordExercise(ctx, e, s.plan, actorName(currentUser(ctx)))
		fe := formErrors(err)
		if err != nil && fe == nil {
			return err
		}
		errs = fe
	} else if _, derr := herald.CheckExercise(s.plan.Exercises, e, s.now()); derr != nil {
		// The form's own problems first; the domain's for the other fields.
		for k, m := range formErrors(derr) {
			if _, ok := errs[k]; !ok {
				errs[k] = m
			}
		}
	}
	if len(errs) > 0 {
		if form.IncidentID != "" {
			if in, ierr := s.console.Incident(ctx, form.IncidentID); ierr == nil {
				form.IncidentName = in.Name
			}
		}
		return s.renderExercises(w, r, http.StatusUnprocessableEntity, exercisesForms{record: form, recordErrs: errs})
	}
	s.refresh(ctx)
	s.flash(r, "Exercise recorded in the log.")
	if form.IncidentID != "" {
		http.Redirect(w, r, "/console/incidents/"+form.IncidentID+"#drill-exercise", http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, "/console/exercises", http.StatusSeeOther)
	return nil
}

// exerciseFromForm reads the record form; the problems are those of
// reading (a date or a duration that does not parse), by field.
func (s *Server) exerciseFromForm(f components.ExerciseForm) (herald.Exercise, map[string]string) {
	errs := map[string]string{}
	e := herald.Exercise{Kind: f.Kind, Name: f.Name, Notes: f.Notes, IncidentID: f.IncidentID}
	if f.Date != "" {
		d, err := time.ParseInLocation(time.DateOnly, f.Date, s.loc)
		if err != nil {
			errs["date"] = "must be a date such as " + s.now().In(s.loc).Format(time.DateOnly)
		}
		e.RunAt = d
	}
	for _, c := range []struct {
		field, text string
		to          **time.Duration
	}{{"rto", f.RTO, &e.RTO}, {"rpo", f.RPO, &e.RPO}} {
		d, ok := parseExerciseDuration(c.text)
		if !ok {
			errs[c.field] = "must be a duration such as 2h15m, 45m or 0s (a bare number is minutes)"
		}
		*c.to = d
	}
	switch f.Passed {
	case "yes":
		e.Passed = new(true)
	case "no":
		e.Passed = new(false)
	case "":
	default:
		errs["passed"] = "choose pass or fail"
	}
	return e, errs
}

// parseExerciseDuration reads "2h15m", "8m", "0s", or a whole number of
// minutes; empty is "not measured" (nil).
func parseExerciseDuration(s string) (*time.Duration, bool) {
	if s == "" {
		return nil, true
	}
	if n, err := strconv.Atoi(s); err == nil {
		d := time.Duration(n) * time.Minute
		return &d, true
	}
	d, err := time.ParseDuration(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		return nil, false
	}
	return &d, true
}

// formDuration writes a duration as the record form reads it: "2h15m",
// "8m", "0s".
func formDuration(d *time.Duration) string {
	if d == nil {
		return ""
	}
	t := d.Round(time.Second)
	if t == 0 {
		return "0s"
	}
	h, m, sec := int(t/time.Hour), int(t%time.Hour/time.Minute), int(t%time.Minute/time.Second)
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if sec > 0 {
		fmt.Fprintf(&b, "%ds", sec)
	}
	return b.String()
}

// runDrill declares an exercise of the schedule as a drill incident, with
// the user as its commander, and opens it.
func (s *Server) runDrill(w http.ResponseWriter, r *http.Request) error {
	key := r.PathValue("key")
	spec, ok := s.plan.Exercises.Spec(key)
	if !ok {
		return notFound("There is no exercise " + strconv.Quote(key) + " in the schedule.")
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	ctx := r.Context()
	comps, err := s.console.Components(ctx)
	if err != nil {
		return err
	}
	form := components.DrillForm{Impact: r.PostFormValue("impact"), Components: map[string]bool{}}
	var ids []string
	for _, c := range comps {
		if r.PostFormValue("component_"+c.ID) != "" {
			form.Components[c.ID] = true
			ids = append(ids, c.ID)
		}
	}
	d := herald.DrillDeclaration(spec, herald.Impact(form.Impact), ids)
	d.NotifyRegulators = s.plan.RegulatorsRequired(d.Impact)
	user := currentUser(ctx)
	in, err := s.console.DeclareIncident(ctx, d, user.ID, s.declareAudiences(), actorName(user))
	errs := map[string]string{}
	if declareErrors(errs, err) {
		return s.renderExercises(w, r, http.StatusUnprocessableEntity, exercisesForms{drillKey: key, drill: form, drillErrors: errs})
	}
	if err != nil {
		return err
	}
	s.refresh(ctx)
	s.flash(r, "Drill started. It never reaches the status page, and every message it sends says "+herald.DrillMarker+".")
	http.Redirect(w, r, "/console/incidents/"+in.ID, http.StatusSeeOther)
	return nil
}

// drillPanel is a drill incident's exercise: the run recorded for it, or
// (once resolved) the record form prefilled from the drill.
func (s *Server) drillPanel(ctx context.Context, in herald.Incident) (components.DrillPanel, error) {
	p := components.DrillPanel{Schedule: s.plan.Exercises.Schedule}
	runs, err := s.console.Exercises(ctx)
	if err != nil {
		return p, err
	}
	for i := range runs {
		if runs[i].IncidentID == in.ID {
			p.Recorded = &runs[i]
			return p, nil
		}
	}
	if in.Open() {
		return p, nil
	}
	rto, rpo := herald.DrillRecovery(in)
	p.CanRecord = true
	p.Form = components.ExerciseForm{IncidentID: in.ID, IncidentName: in.Name, Date: in.CreatedAt.In(s.loc).Format(time.DateOnly),
		RTO: formDuration(rto), RPO: formDuration(rpo)}
	if spec, ok := s.plan.Exercises.SpecForDrill(in); ok {
		p.Form.Kind = spec.Key
	}
	return p, nil
}

// exerciseWarnings are the exercises overdue or never run, for the
// incident list. A failure to read is logged and shows none: the list
// itself still works.
func (s *Server) exerciseWarnings(r *http.Request, now time.Time) []herald.ExerciseRow {
	if len(s.plan.Exercises.Schedule) == 0 {
		return nil
	}
	runs, err := s.console.Exercises(r.Context())
	if err != nil {
		s.log.Warn("exercise warnings", "error", err.Error(), "request_id", requestID(r.Context()))
		return nil
	}
	var out []herald.ExerciseRow
	for _, row := range herald.ExerciseBoard(s.plan.Exercises.Schedule, runs, now, s.loc) {
		if row.Warn() {
			out = append(out, row)
		}
	}
	return out
}
