package handlers

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
)

// incidentList is the console's home.
func (s *Server) incidentList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	open, err := s.console.OpenIncidents(ctx)
	if err != nil {
		return err
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	resolved, err := s.console.SearchResolved(ctx, q, 50)
	if err != nil {
		return err
	}
	comps, err := s.console.Components(ctx)
	if err != nil {
		return err
	}
	commanders, err := s.console.Commanders(ctx)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(open))
	for _, in := range open {
		ids = append(ids, in.ID)
	}
	told, err := s.console.Communications(ctx, ids)
	if err != nil {
		return err
	}
	reports, err := s.console.RegulatorReports(ctx, ids)
	if err != nil {
		return err
	}
	now := s.now()
	byID := componentsByID(comps)
	v := components.IncidentListView{Console: s.consoleFrame(r, "Incidents", "incidents"), Query: q, Now: now,
		Objectives: s.plan.Objectives}
	for _, in := range open {
		if in.Kind != herald.KindIncident {
			continue
		}
		v.Active = append(v.Active, components.IncidentRow{Incident: in, Commander: commanders[in.ID],
			Components: names(in.ComponentIDs, byID), Clocks: herald.Board(s.plan, in, told, reports, nil, now)})
	}
	for _, in := range resolved {
		v.Resolved = append(v.Resolved, components.IncidentRow{Incident: in, Components: names(in.ComponentIDs, byID)})
	}
	v.Exercises = s.exerciseWarnings(r, now)
	s.render(w, r, components.IncidentList(v))
	return nil
}

func componentsByID(comps []herald.Component) map[string]herald.Component {
	m := make(map[string]herald.Component, len(comps))
	for _, c := range comps {
		m[c.ID] = c
	}
	return m
}

func names(ids []string, byID map[string]herald.Component) string {
	var out []string
	for _, id := range ids {
		if c, ok := byID[id]; ok {
			out = append(out, c.Name)
		}
	}
	return strings.Join(out, ", ")
}

// commanders are the users who may hold the commander's seat.
func (s *Server) commanders(r *http.Request) ([]herald.User, error) {
	users, err := s.console.Users(r.Context())
	if err != nil {
		return nil, err
	}
	var out []herald.User
	for _, u := range users {
		if u.Role.Can(herald.PermManageIncidents) && !u.Disabled {
			out = append(out, u)
		}
	}
	return out, nil
}

func (s *Server) declareForm(w http.ResponseWriter, r *http.Request) error {
	form := components.DeclareForm{Impact: string(herald.ImpactMajor), CommanderID: currentUser(r.Context()).ID,
		Body: herald.Fill(s.template(herald.Investigating), "", "", s.nextUpdateText(s.now())), Statuses: map[string]string{}}
	return s.renderDeclare(w, r, http.StatusOK, form, nil)
}

func (s *Server) renderDeclare(w http.ResponseWriter, r *http.Request, status int, form components.DeclareForm, errs map[string]string) error {
	comps, err := s.console.Components(r.Context())
	if err != nil {
		return err
	}
	users, err := s.commanders(r)
	if err != nil {
		return err
	}
	// The frame pops the flash from the session, which is saved when the
	// header is written: build it first.
	v := components.DeclareView{Console: s.consoleFrame(r, "Declare an incident", "declare"), Form: form, Errors: errs,
		Components: comps, Users: users}
	if ra, ok := s.plan.RegulatorAudience(); ok {
		v.RegulatorsFor = ra.RequiredFor
	}
	w.WriteHeader(status)
	s.render(w, r, components.Declare(v))
	return nil
}

func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return mbe
		}
		return badRequest("the form could not be read")
	}
	return nil
}

func (s *Server) consoleDeclare(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	ctx := r.Context()
	comps, err := s.console.Components(ctx)
	if err != nil {
		return err
	}
	form := components.DeclareForm{Name: r.PostFormValue("name"), Impact: r.PostFormValue("impact"),
		Body: r.PostFormValue("body"), CommanderID: r.PostFormValue("commander"),
		Regulators: r.PostFormValue("regulators") == "yes", Statuses: map[string]string{}}
	var targets []herald.ComponentTarget
	for _, c := range comps {
		if v := r.PostFormValue("component_" + c.ID); v != "" {
			form.Statuses[c.ID] = v
			targets = append(targets, herald.ComponentTarget{ComponentID: c.ID, Status: herald.ComponentStatus(v)})
		}
	}
	errs := map[string]string{}
	users, err := s.commanders(r)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(users, func(u herald.User) bool { return u.ID == form.CommanderID }) {
		errs["commander"] = "choose a commander from the list"
	}
	d := herald.Declaration{Name: form.Name, Impact: herald.Impact(form.Impact), Body: form.Body, Components: targets,
		NotifyRegulators: form.Regulators || s.plan.RegulatorsRequired(herald.Impact(form.Impact))}
	if len(errs) > 0 {
		// Show the declaration's own problems too, not the commander's alone.
		_, err := herald.Declare(d, componentsByID(comps), s.now())
		declareErrors(errs, err)
		return s.renderDeclare(w, r, http.StatusUnprocessableEntity, form, errs)
	}
	in, err := s.console.DeclareIncident(ctx, d, form.CommanderID, s.declareAudiences(), actorName(currentUser(ctx)))
	if declareErrors(errs, err) {
		return s.renderDeclare(w, r, http.StatusUnprocessableEntity, form, errs)
	}
	if err != nil {
		return err
	}
	s.refresh(ctx)
	s.flash(r, "Incident declared and published on the status page.")
	http.Redirect(w, r, "/console/incidents/"+in.ID, http.StatusSeeOther)
	return nil
}

// declareErrors adds a declaration's field problems to errs (every
// component's under "components", where the form shows them) and reports
// whether there were any.
func declareErrors(errs map[string]string, err error) bool {
	fe := formErrors(err)
	for k, v := range fe {
		if strings.HasPrefix(k, "components") {
			k = "components"
		}
		if _, ok := errs[k]; !ok {
			errs[k] = v
		}
	}
	return fe != nil
}

// declareAudiences are told the first message: the public page and every
// real-time audience.
func (s *Server) declareAudiences() []string { return s.plan.DeclareAudiences() }

// formErrors returns field messages for a validation error, else nil.
func formErrors(err error) map[string]string {
	if err == nil || !errors.Is(err, herald.ErrInvalid) {
		return nil
	}
	return errorFields(err)
}

func (s *Server) template(st herald.Status) string { return herald.TemplateBody(s.templates, st) }

func (s *Server) nextUpdateText(now time.Time) string {
	if pub, ok := s.plan.PublicAudience(); ok && pub.Cadence.Interval > 0 {
		return now.Add(pub.Cadence.Interval).In(s.loc).Format("15:04 MST")
	}
	return "soon"
}

// incidentPage shows an incident with a fresh composer.
func (s *Server) incidentPage(w http.ResponseWriter, r *http.Request) error {
	v, err := s.incidentView(r, nil)
	if err != nil {
		return err
	}
	s.render(w, r, components.IncidentConsole(v))
	return nil
}

// incidentView loads everything the incident page shows. compose, when
// set, is what the user typed (kept on an error); else the composer starts
// from the template for the current status.
func (s *Server) incidentView(r *http.Request, compose *components.ComposerView) (components.IncidentConsoleView, error) {
	ctx := r.Context()
	id := r.PathValue("id")
	in, err := s.console.Incident(ctx, id)
	if err != nil {
		return components.IncidentConsoleView{}, err
	}
	comps, err := s.console.Components(ctx)
	if err != nil {
		return components.IncidentConsoleView{}, err
	}
	assign, err := s.console.Assignments(ctx, id)
	if err != nil {
		return components.IncidentConsoleView{}, err
	}
	users, err := s.console.Users(ctx)
	if err != nil {
		return components.IncidentConsoleView{}, err
	}
	told, err := s.console.Communications(ctx, []string{id})
	if err != nil {
		return components.IncidentConsoleView{}, err
	}
	kind := r.URL.Query().Get("kind")
	if !slices.ContainsFunc(herald.TimelineKinds, func(k struct{ Kind, Label string }) bool { return k.Kind == kind }) {
		kind = ""
	}
	tl, err := s.console.Timeline(ctx, id, kind)
	if err != nil {
		return components.IncidentConsoleView{}, err
	}
	var audit []herald.AuditEntry
	if currentUser(ctx).Role.Can(herald.PermReadAudit) {
		if audit, err = s.console.Audit(ctx, id, 200); err != nil {
			return components.IncidentConsoleView{}, err
		}
	}
	// The board and the compliance table count every delivery; the log
	// shows the latest.
	deliveries, err := s.console.Deliveries(ctx, id, boardDeliveries)
	if err != nil {
		return components.IncidentConsoleView{}, err
	}
	reports, err := s.console.RegulatorReports(ctx, []string{id})
	if err != nil {
		return components.IncidentConsoleView{}, err
	}
	now := s.now()
	var affected []herald.Component
	for _, c := range comps {
		if in.Affects(c.ID) {
			affected = append(affected, c)
		}
	}
	for _, c := range comps {
		if !in.Affects(c.ID) {
			affected = append(affected, c)
		}
	}
	v := components.IncidentConsoleView{Console: s.consoleFrame(r, in.Name, "incidents"), Incident: in, Components: affected,
		Assignments: assign, Users: users, Clocks: herald.Board(s.plan, in, told, reports, deliveries, now), Timeline: tl,
		Filter: kind, Objectives: s.plan.Objectives, DataLoss: in.DataLoss, Now: now, Errors: map[string]string{}, Audit: audit,
		Deliveries: deliveries[:min(len(deliveries), logDeliveries)], DeliveryTotal: len(deliveries), Failed: components.FailedCount(deliveries),
		Compliance: herald.Compliance(s.plan, in, told, reports, deliveries, now), Reports: reports,
		RegulatorForm: s.regulatorForm(r, in, reports, now)}
	if ra, ok := s.plan.RegulatorAudience(); ok {
		v.Regulators = &ra
	}
	actions, err := s.console.Actions(ctx, id)
	if err != nil {
		return components.IncidentConsoleView{}, err
	}
	v.Actions = s.actionViews(actions, deliveries)
	v.Procedures = s.plan.Procedures()
	if v.PagerDuty, err = s.console.PagerDutyLinks(ctx, id); err != nil {
		return components.IncidentConsoleView{}, err
	}
	for _, d := range deliveries {
		if d.Channel == herald.ChannelPagerDuty {
			v.PagerDutyPaged = append(v.PagerDutyPaged, d)
		}
	}
	if in.Drill {
		if v.Drill, err = s.drillPanel(ctx, in); err != nil {
			return components.IncidentConsoleView{}, err
		}
	}
	if compose == nil {
		c := s.defaultComposer(in, comps, now)
		compose = &c
	}
	compose.IncidentID, compose.Statuses = in.ID, in.Kind.Statuses()
	compose.Templates = s.templates
	if compose.Version == 0 {
		compose.Version = in.Version
	}
	s.fillPreviews(compose, in)
	v.Composer = *compose
	return v, nil
}

// defaultComposer starts from the current status's template, ticking the
// public page and the real-time audiences.
func (s *Server) defaultComposer(in herald.Incident, comps []herald.Component, now time.Time) components.ComposerView {
	c := components.ComposerView{Status: string(in.Status), Impact: string(in.Impact), Version: in.Version,
		Main: herald.Fill(s.template(in.Status), in.Name, names(in.ComponentIDs, componentsByID(comps)), s.nextUpdateText(now))}
	for _, a := range s.plan.Audiences {
		c.Previews = append(c.Previews, components.AudiencePreview{Audience: a,
			Ticked: a.Cadence.Kind == herald.RealTime || slices.Contains(a.Channels, herald.ChannelStatusPage)})
	}
	return c
}

// fillPreviews computes what each audience will receive.
func (s *Server) fillPreviews(c *components.ComposerView, in herald.Incident) {
	for i := range c.Previews {
		p := &c.Previews[i]
		p.Applies = !p.Audience.Conditional || in.NotifyRegulators
		if !p.OwnText {
			p.Text = strings.TrimSpace(c.Main)
		}
		if slices.Contains(p.Audience.Channels, herald.ChannelSMS) {
			p.SMS = true
			p.SMSChars, p.SMSParts, p.SMSUnicode = herald.SMSSegments(p.Text)
		}
	}
}

// composerFromForm reads the composer as typed.
func (s *Server) composerFromForm(r *http.Request) (components.ComposerView, herald.Composition) {
	version, _ := strconv.Atoi(r.PostFormValue("version"))
	c := components.ComposerView{Status: r.PostFormValue("status"), Impact: r.PostFormValue("impact"),
		Main: r.PostFormValue("main"), Version: version, Errors: map[string]string{}}
	comp := herald.Composition{Status: herald.Status(c.Status), Impact: herald.Impact(c.Impact), Main: c.Main,
		Overrides: map[string]string{}}
	ticked := r.PostForm["audience"]
	for _, a := range s.plan.Audiences {
		own := strings.TrimSpace(r.PostFormValue("text_" + a.Key))
		p := components.AudiencePreview{Audience: a, Ticked: slices.Contains(ticked, a.Key), OwnText: own != "", Text: own}
		if own != "" {
			comp.Overrides[a.Key] = own
		}
		if p.Ticked {
			comp.Audiences = append(comp.Audiences, a.Key)
		}
		c.Previews = append(c.Previews, p)
	}
	return c, comp
}

// postUpdate handles the composer: fill from a template, or post.
func (s *Server) composeUpdate(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	ctx := r.Context()
	view, comp := s.composerFromForm(r)
	if r.PostFormValue("action") == "template" {
		in, err := s.console.Incident(ctx, r.PathValue("id"))
		if err != nil {
			return err
		}
		comps, err := s.console.Components(ctx)
		if err != nil {
			return err
		}
		view.Main = herald.Fill(s.template(herald.Status(view.Status)), in.Name, names(in.ComponentIDs, componentsByID(comps)), s.nextUpdateText(s.now()))
		v, err := s.incidentView(r, &view)
		if err != nil {
			return err
		}
		s.render(w, r, components.IncidentConsole(v))
		return nil
	}
	_, err := s.console.Compose(ctx, r.PathValue("id"), view.Version, comp, s.plan, actorName(currentUser(ctx)))
	return s.afterIncidentWrite(w, r, err, &view, "Update posted.")
}

// afterIncidentWrite redirects after a successful write, or shows the page
// again with the problem next to the field, a stale-edit warning, and
// everything typed kept.
func (s *Server) afterIncidentWrite(w http.ResponseWriter, r *http.Request, err error, typed *components.ComposerView, ok string) error {
	ctx := r.Context()
	if err == nil {
		s.refresh(ctx)
		s.flash(r, ok)
		http.Redirect(w, r, "/console/incidents/"+r.PathValue("id"), http.StatusSeeOther)
		return nil
	}
	fe := formErrors(err)
	stale := errors.Is(err, herald.ErrConflict)
	closed := errors.Is(err, herald.ErrClosed) || errors.Is(err, herald.ErrInvalidTransition)
	if fe == nil && !stale && !closed {
		return err
	}
	if typed != nil {
		typed.Version = 0 // show the latest version: the user resubmits knowingly
		if typed.Errors == nil {
			typed.Errors = map[string]string{}
		}
		for k, v := range fe {
			typed.Errors[k] = v
		}
		if closed {
			typed.Errors["status"] = trimPrefix(err)
		}
	}
	v, verr := s.incidentView(r, typed)
	if verr != nil {
		return verr
	}
	for k, m := range fe {
		v.Errors[k] = m
	}
	status := http.StatusUnprocessableEntity
	if stale {
		status = http.StatusConflict
		v.Stale = "Someone else changed this incident while you were editing. The latest state is shown; what you typed is kept. Check it and submit again."
	}
	if closed {
		status = http.StatusConflict
	}
	w.WriteHeader(status)
	s.render(w, r, components.IncidentConsole(v))
	return nil
}

// preview re-renders the composer's previews as typed (htmx).
func (s *Server) preview(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	view, _ := s.composerFromForm(r)
	v, err := s.incidentView(r, &view)
	if err != nil {
		return err
	}
	s.render(w, r, components.Previews(v.Composer))
	return nil
}

func formVersion(r *http.Request) int {
	v, _ := strconv.Atoi(r.PostFormValue("version"))
	return v
}

func (s *Server) assignRole(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	_, err := s.console.AssignRole(r.Context(), r.PathValue("id"), formVersion(r), herald.IncidentRole(r.PostFormValue("seat")),
		r.PostFormValue("user"), actorName(currentUser(r.Context())))
	if errors.Is(err, herald.ErrNotFound) && r.PostFormValue("user") != "" {
		err = &herald.ValidationError{Field: "user", Problem: "choose a person from the list"}
	}
	return s.afterIncidentWrite(w, r, err, nil, "Role assigned.")
}

func (s *Server) setIncidentComponent(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	_, err := s.console.SetIncidentComponent(r.Context(), r.PathValue("id"), formVersion(r), r.PostFormValue("component"),
		herald.ComponentStatus(r.PostFormValue("status")), actorName(currentUser(r.Context())))
	return s.afterIncidentWrite(w, r, err, nil, "Component status changed; the status page shows it.")
}

func (s *Server) addNote(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	err := s.console.AddNote(r.Context(), r.PathValue("id"), r.PostFormValue("note"), actorName(currentUser(r.Context())))
	return s.afterIncidentWrite(w, r, err, nil, "Note added.")
}

func (s *Server) setDataLoss(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	m, perr := strconv.Atoi(strings.TrimSpace(r.PostFormValue("minutes")))
	var err error
	if perr != nil || m < 0 {
		err = &herald.ValidationError{Field: "minutes", Problem: "must be a whole number of minutes from 0"}
	} else {
		_, err = s.console.SetDataLoss(r.Context(), r.PathValue("id"), formVersion(r), time.Duration(m)*time.Minute,
			actorName(currentUser(r.Context())))
	}
	return s.afterIncidentWrite(w, r, err, nil, "Estimated data loss saved.")
}

// boardDeliveries bounds the deliveries the incident page counts;
// logDeliveries, the ones its log lists.
const (
	boardDeliveries = 20000
	logDeliveries   = 200
)

// regulatorForm is the form to record the next regulator call: what was
// typed when r is a refused submission, else the defaults.
func (s *Server) regulatorForm(r *http.Request, in herald.Incident, reports []herald.RegulatorReport, now time.Time) components.RegulatorForm {
	f := components.RegulatorForm{CalledBy: currentUser(r.Context()).Name, At: now.In(s.loc).Format(datetimeLocal)}
	for _, ob := range herald.Obligations(s.plan, in, nil, reports) {
		if ra, ok := s.plan.RegulatorAudience(); ok && ob.Audience == ra.Key {
			f.Step = ob.Step
		}
	}
	if r.Method == http.MethodPost && r.PostForm != nil && r.PostForm.Has("whom") {
		f.CalledBy, f.Whom, f.At = r.PostFormValue("called_by"), r.PostFormValue("whom"), r.PostFormValue("at")
		f.Reference, f.Notes = r.PostFormValue("reference"), r.PostFormValue("notes")
	}
	return f
}

// flagRegulators marks the incident as needing regulator notification.
func (s *Server) flagRegulators(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	_, err := s.console.FlagRegulators(r.Context(), r.PathValue("id"), formVersion(r), "marked in the console",
		actorName(currentUser(r.Context())))
	return s.afterIncidentWrite(w, r, err, nil, "Marked as needing regulator notification: the regulatory clock has started.")
}

// recordRegulatorCall records a call to the regulator, which satisfies the
// regulatory clock's current step.
func (s *Server) recordRegulatorCall(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	rep := herald.TrimReport(herald.RegulatorReport{IncidentID: r.PathValue("id"), Step: r.PostFormValue("step"),
		CalledBy: r.PostFormValue("called_by"), Whom: r.PostFormValue("whom"), Reference: r.PostFormValue("reference"),
		Notes: r.PostFormValue("notes")})
	var err error
	if at, perr := parseLocalTime(r.PostFormValue("at"), s.loc); perr == nil {
		rep.At = at
	} else if strings.TrimSpace(r.PostFormValue("at")) != "" {
		err = &herald.ValidationError{Field: "at", Problem: "must be a date and time such as 2026-11-25T14:30"}
	}
	if err == nil {
		_, err = s.console.RecordRegulatorReport(r.Context(), rep, s.plan, actorName(currentUser(r.Context())))
	}
	return s.afterIncidentWrite(w, r, err, nil, "Regulator call recorded; the regulatory clock moved on.")
}

func (s *Server) reopenIncident(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	_, err := s.console.ReopenVersion(r.Context(), r.PathValue("id"), formVersion(r), r.PostFormValue("body"),
		actorName(currentUser(r.Context())))
	return s.afterIncidentWrite(w, r, err, nil, "Incident reopened.")
}
