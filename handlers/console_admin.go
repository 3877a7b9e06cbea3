package handlers

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/components"
)

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderUsers(w, r, http.StatusOK, herald.NewUser{Role: herald.RoleViewer}, nil)
}

func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, status int, form herald.NewUser, errs map[string]string) error {
	users, err := s.console.Users(r.Context())
	if err != nil {
		return err
	}
	form.Password = "" // never echoed back
	// The frame pops the flash, saved with the session when the header is
	// written: build it first.
	v := components.UsersView{Console: s.consoleFrame(r, "Users", "users"), Users: users, Form: form, Errors: errs}
	w.WriteHeader(status)
	s.render(w, r, components.Users(v))
	return nil
}

func (s *Server) addUser(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	u := herald.NewUser{Email: r.PostFormValue("email"), Name: r.PostFormValue("name"), Phone: r.PostFormValue("phone"),
		Role: herald.Role(r.PostFormValue("role")), Password: r.PostFormValue("password")}
	if err := u.Validate(); err != nil {
		return s.renderUsers(w, r, http.StatusUnprocessableEntity, u, formErrors(err))
	}
	hash, err := s.hasher.Hash(u.Password)
	if err != nil {
		return err
	}
	_, err = s.console.CreateUser(r.Context(), u, hash, actorName(currentUser(r.Context())))
	if err != nil {
		if fe := formErrors(err); fe != nil {
			return s.renderUsers(w, r, http.StatusUnprocessableEntity, u, fe)
		}
		if strings.Contains(err.Error(), "already exists") {
			return s.renderUsers(w, r, http.StatusUnprocessableEntity, u, map[string]string{"email": "a user with this email already exists"})
		}
		return err
	}
	s.flash(r, "User "+u.Email+" added.")
	http.Redirect(w, r, "/console/users", http.StatusSeeOther)
	return nil
}

func (s *Server) setUserRole(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	me := currentUser(r.Context())
	if r.PathValue("id") == me.ID && r.PostFormValue("role") != string(herald.RoleAdmin) {
		return &httpError{http.StatusConflict, "you cannot take away your own admin role; ask another admin"}
	}
	if err := s.console.SetUserRole(r.Context(), r.PathValue("id"), herald.Role(r.PostFormValue("role")), actorName(me)); err != nil {
		return err
	}
	s.flash(r, "Role changed.")
	http.Redirect(w, r, "/console/users", http.StatusSeeOther)
	return nil
}

// slackMemberID is a Slack member id as Slack shows it (profile → ⋮ →
// Copy member ID): U… or W… and capitals and digits.
var slackMemberID = regexp.MustCompile(`^[UW][A-Z0-9]{2,30}$`)

// setUserSlack links a user to a Slack member by hand (or unlinks, when
// empty): for a member whose Slack email differs from their Herald one.
func (s *Server) setUserSlack(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	id := strings.ToUpper(strings.TrimSpace(r.PostFormValue("slack_user_id")))
	if id != "" && !slackMemberID.MatchString(id) {
		return s.renderUsers(w, r, http.StatusUnprocessableEntity, herald.NewUser{Role: herald.RoleViewer},
			map[string]string{"slack-" + r.PathValue("id"): "a Slack member ID looks like U0123ABCD (in Slack: the person's profile, ⋮, Copy member ID)"})
	}
	u, err := s.console.LinkSlackUser(r.Context(), r.PathValue("id"), id, actorName(currentUser(r.Context())))
	if err != nil {
		return err
	}
	if id == "" {
		s.flash(r, u.Name+" is no longer linked to a Slack member.")
	} else {
		s.flash(r, u.Name+" is linked to the Slack member "+id+": /incident and Slack's buttons act as them.")
	}
	http.Redirect(w, r, "/console/users", http.StatusSeeOther)
	return nil
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) error {
	entries, err := s.console.Audit(r.Context(), "", 500)
	if err != nil {
		return err
	}
	s.render(w, r, components.Audit(components.AuditView{Console: s.consoleFrame(r, "Audit log", "audit"), Entries: entries}))
	return nil
}

func (s *Server) componentsPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderComponents(w, r, http.StatusOK, components.ComponentsView{})
}

// renderComponents shows the components page with v's errors and typed
// values; it loads the components and groups itself.
func (s *Server) renderComponents(w http.ResponseWriter, r *http.Request, status int, v components.ComponentsView) error {
	comps, err := s.console.Components(r.Context())
	if err != nil {
		return err
	}
	groups, err := s.console.Groups(r.Context())
	if err != nil {
		return err
	}
	v.Console, v.Components = s.consoleFrame(r, "Components", "components"), comps
	for _, g := range groups {
		row := components.GroupRow{Group: g}
		for _, c := range comps {
			if c.GroupID == g.ID {
				row.Members = append(row.Members, c)
			}
		}
		v.Groups = append(v.Groups, row)
	}
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	s.render(w, r, components.ComponentsAdmin(v))
	return nil
}

func (s *Server) setComponentStatus(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	c, err := s.console.SetComponentStatus(r.Context(), r.PathValue("id"), herald.ComponentStatus(r.PostFormValue("status")),
		actorName(currentUser(r.Context())))
	if err != nil {
		return err
	}
	s.refresh(r.Context())
	s.flash(r, c.Name+" is now "+strings.ToLower(c.Status.Label())+".")
	http.Redirect(w, r, "/console/components", http.StatusSeeOther)
	return nil
}

func (s *Server) maintenanceForm(w http.ResponseWriter, r *http.Request) error {
	now := s.now().In(s.loc)
	from := now.Add(24 * time.Hour).Truncate(time.Hour)
	return s.renderMaintenance(w, r, http.StatusOK, components.MaintenanceForm{From: from.Format(datetimeLocal),
		Until: from.Add(2 * time.Hour).Format(datetimeLocal), Components: map[string]bool{}}, nil)
}

const datetimeLocal = "2006-01-02T15:04"

// parseLocalTime reads an <input type="datetime-local"> value in loc. The
// HTML standard lets it carry seconds ("2026-11-25T14:30:15", as a browser
// sends when the input's step is under a minute or its value had seconds),
// so both forms are accepted; Go reads a fraction after the seconds too.
func parseLocalTime(v string, loc *time.Location) (time.Time, error) {
	v = strings.TrimSpace(v)
	if t, err := time.ParseInLocation("2006-01-02T15:04:05", v, loc); err == nil {
		return t, nil
	}
	return time.ParseInLocation(datetimeLocal, v, loc)
}

func (s *Server) renderMaintenance(w http.ResponseWriter, r *http.Request, status int, form components.MaintenanceForm, errs map[string]string) error {
	comps, err := s.console.Components(r.Context())
	if err != nil {
		return err
	}
	// Built before the header is written, which saves the popped flash.
	v := components.MaintenanceView{Console: s.consoleFrame(r, "Schedule maintenance", "maintenance"), Form: form,
		Errors: errs, Components: comps}
	w.WriteHeader(status)
	s.render(w, r, components.Maintenance(v))
	return nil
}

func (s *Server) scheduleMaintenance(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	comps, err := s.console.Components(r.Context())
	if err != nil {
		return err
	}
	form := components.MaintenanceForm{Name: r.PostFormValue("name"), Body: r.PostFormValue("body"),
		From: r.PostFormValue("from"), Until: r.PostFormValue("until"), Components: map[string]bool{}}
	errs := map[string]string{}
	from, ferr := parseLocalTime(form.From, s.loc)
	if ferr != nil {
		errs["scheduled_for"] = "give a date and time, e.g. 2026-12-01T22:00"
	}
	until, uerr := parseLocalTime(form.Until, s.loc)
	if uerr != nil {
		errs["scheduled_until"] = "give a date and time, e.g. 2026-12-02T00:00"
	}
	var targets []herald.ComponentTarget
	for _, c := range comps {
		if r.PostFormValue("component_"+c.ID) == "yes" {
			form.Components[c.ID] = true
			targets = append(targets, herald.ComponentTarget{ComponentID: c.ID})
		}
	}
	if len(errs) > 0 {
		return s.renderMaintenance(w, r, http.StatusUnprocessableEntity, form, errs)
	}
	_, err = s.console.Declare(r.Context(), herald.Declaration{Kind: herald.KindMaintenance, Name: form.Name, Body: form.Body,
		ScheduledFor: from, ScheduledUntil: until, Components: targets}, actorName(currentUser(r.Context())))
	if fe := formErrors(err); fe != nil {
		return s.renderMaintenance(w, r, http.StatusUnprocessableEntity, form, fe)
	}
	if err != nil {
		return err
	}
	s.refresh(r.Context())
	s.flash(r, "Maintenance scheduled and announced on the status page.")
	http.Redirect(w, r, "/console", http.StatusSeeOther)
	return nil
}

// editComponent renames, describes or reorders a component; the edit wins
// over the configuration file from then on.
func (s *Server) editComponent(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	c, err := s.console.EditComponent(r.Context(), r.PathValue("id"), r.PostFormValue("name"), r.PostFormValue("description"),
		formPosition(r.PostFormValue("position")), r.PostFormValue("group"), actorName(currentUser(r.Context())))
	if fe := formErrors(err); fe != nil {
		return s.renderComponents(w, r, http.StatusUnprocessableEntity, components.ComponentsView{Errors: prefixErrors(r.PathValue("id"), fe)})
	}
	if err != nil {
		return err
	}
	s.refresh(r.Context())
	s.flash(r, c.Name+" saved.")
	http.Redirect(w, r, "/console/components", http.StatusSeeOther)
	return nil
}

// createGroup adds a component group.
func (s *Server) createGroup(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	form := components.GroupForm{Name: r.PostFormValue("name"), Description: r.PostFormValue("description"),
		Position: r.PostFormValue("position")}
	g, err := s.console.CreateGroup(r.Context(), form.Name, form.Description, formPosition(form.Position),
		actorName(currentUser(r.Context())))
	if fe := formErrors(err); fe != nil {
		return s.renderComponents(w, r, http.StatusUnprocessableEntity,
			components.ComponentsView{Errors: prefixErrors("new-group", fe), NewGroup: form})
	}
	if err != nil {
		return err
	}
	s.refresh(r.Context())
	s.flash(r, "Group "+g.Name+" created. Put components in it with their Edit forms.")
	http.Redirect(w, r, "/console/components", http.StatusSeeOther)
	return nil
}

// editGroup renames, describes or moves a group.
func (s *Server) editGroup(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	g, err := s.console.EditGroup(r.Context(), r.PathValue("id"), r.PostFormValue("name"), r.PostFormValue("description"),
		formPosition(r.PostFormValue("position")), actorName(currentUser(r.Context())))
	if fe := formErrors(err); fe != nil {
		return s.renderComponents(w, r, http.StatusUnprocessableEntity,
			components.ComponentsView{Errors: prefixErrors(r.PathValue("id"), fe)})
	}
	if err != nil {
		return err
	}
	s.refresh(r.Context())
	s.flash(r, "Group "+g.Name+" saved.")
	http.Redirect(w, r, "/console/components", http.StatusSeeOther)
	return nil
}

// formPosition reads a position field; anything but a whole number becomes
// 0, which the store refuses with a message naming the field.
func formPosition(v string) int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0
	}
	return n
}

// prefixErrors keys field errors by component, so the page shows them next
// to the right form.
func prefixErrors(id string, fe map[string]string) map[string]string {
	out := make(map[string]string, len(fe))
	for k, v := range fe {
		out[id+"."+k] = v
	}
	return out
}
