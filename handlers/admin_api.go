package handlers

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/kredete/herald"
	"github.com/kredete/herald/statusapi"
)

// AdminStore is the write path the admin API drives: the same domain
// operations the console will call.
type AdminStore interface {
	Components(ctx context.Context) ([]herald.Component, error)
	Incident(ctx context.Context, id string) (herald.Incident, error)
	Declare(ctx context.Context, d herald.Declaration, actor string) (herald.Incident, error)
	PostUpdate(ctx context.Context, id string, u herald.UpdateInput, actor string) (herald.Incident, error)
	Reopen(ctx context.Context, id, body, actor string) (herald.Incident, error)
	SetComponentStatus(ctx context.Context, id string, s herald.ComponentStatus, actor string) (herald.Component, error)
	FlagRegulators(ctx context.Context, id string, version int, reason, actor string) (herald.Incident, error)
}

// MaxBodyBytes limits request bodies; larger ones get 413.
const MaxBodyBytes = 64 << 10

// adminAuth lets a request through with the right bearer token. The token
// is compared in constant time and never logged.
func (s *Server) adminAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.adminToken == "" {
			writeJSONError(w, http.StatusForbidden, "the admin API is disabled: set HERALD_ADMIN_TOKEN to enable it", nil)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.adminToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald-admin"`)
			writeJSONError(w, http.StatusUnauthorized, "missing or wrong bearer token", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type componentInput struct {
	ID     string `json:"id"` // a component id or its configuration key
	Status string `json:"status"`
}

type declareInput struct {
	Kind             string           `json:"kind"`
	Name             string           `json:"name"`
	Status           string           `json:"status"`
	Impact           string           `json:"impact"`
	Body             string           `json:"body"`
	Components       []componentInput `json:"components"`
	NotifyRegulators bool             `json:"notify_regulators"`
	ScheduledFor     *time.Time       `json:"scheduled_for"`
	ScheduledUntil   *time.Time       `json:"scheduled_until"`
}

type updateInput struct {
	Status     string           `json:"status"`
	Impact     string           `json:"impact"`
	Body       string           `json:"body"`
	Components []componentInput `json:"components"`
}

// decodeJSON reads a JSON body strictly: one object, known fields only,
// within the size limit.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return &httpError{http.StatusUnsupportedMediaType, "send the body as application/json"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return err
		case errors.Is(err, io.EOF):
			return badRequest("the body is empty; send a JSON object")
		case errors.As(err, &se):
			return badRequest(fmt.Sprintf("the body is not valid JSON (at byte %d)", se.Offset))
		case errors.As(err, &te):
			return badRequest(fmt.Sprintf("field %q must be %s", te.Field, te.Type))
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return badRequest(strings.TrimPrefix(err.Error(), "json: ") + " (not a field of this request)")
		}
		return badRequest("the body could not be read: " + err.Error())
	}
	// Only whitespace may follow, and it counts toward the size limit.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return err
		}
		return badRequest("send one JSON object, not several")
	}
	return nil
}

// targets resolves component ids or keys.
func (s *Server) targets(ctx context.Context, in []componentInput) ([]herald.ComponentTarget, error) {
	if len(in) == 0 {
		return nil, nil
	}
	comps, err := s.admin.Components(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]herald.ComponentTarget, len(in))
	for i, c := range in {
		id := c.ID
		for _, k := range comps {
			if k.Key == c.ID {
				id = k.ID
			}
		}
		out[i] = herald.ComponentTarget{ComponentID: id, Status: herald.ComponentStatus(c.Status)}
	}
	return out, nil
}

func (s *Server) declare(w http.ResponseWriter, r *http.Request) error {
	var in declareInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	targets, err := s.targets(r.Context(), in.Components)
	if err != nil {
		return err
	}
	d := herald.Declaration{Kind: herald.Kind(in.Kind), Name: in.Name, Status: herald.Status(in.Status),
		Impact: herald.Impact(in.Impact), Body: in.Body, Components: targets, NotifyRegulators: in.NotifyRegulators}
	if (d.Kind == "" || d.Kind == herald.KindIncident) && s.plan.RegulatorsRequired(d.Impact) {
		d.NotifyRegulators = true // the plan requires it at this impact
	}
	if in.ScheduledFor != nil {
		d.ScheduledFor = *in.ScheduledFor
	}
	if in.ScheduledUntil != nil {
		d.ScheduledUntil = *in.ScheduledUntil
	}
	inc, err := s.admin.Declare(r.Context(), d, "admin-api")
	if err != nil {
		return err
	}
	return s.respondIncident(w, r, http.StatusCreated, inc)
}

func (s *Server) postUpdate(w http.ResponseWriter, r *http.Request) error {
	var in updateInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	targets, err := s.targets(r.Context(), in.Components)
	if err != nil {
		return err
	}
	inc, err := s.admin.PostUpdate(r.Context(), r.PathValue("id"), herald.UpdateInput{Status: herald.Status(in.Status),
		Impact: herald.Impact(in.Impact), Body: in.Body, Components: targets}, "admin-api")
	if err != nil {
		return err
	}
	if inc, err = s.requireRegulators(r.Context(), inc, "admin-api"); err != nil {
		return err
	}
	return s.respondIncident(w, r, http.StatusCreated, inc)
}

// requireRegulators marks an incident raised to an impact at which the plan
// requires regulator notification (the console's composer does it in the
// update's own transaction).
func (s *Server) requireRegulators(ctx context.Context, in herald.Incident, actor string) (herald.Incident, error) {
	if in.Kind != herald.KindIncident || in.NotifyRegulators || !in.Open() || !s.plan.RegulatorsRequired(in.Impact) {
		return in, nil
	}
	return s.admin.FlagRegulators(ctx, in.ID, in.Version, in.Impact.Label()+" impact requires it under the plan", actor)
}

func (s *Server) reopen(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Body string `json:"body"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	inc, err := s.admin.Reopen(r.Context(), r.PathValue("id"), in.Body, "admin-api")
	if err != nil {
		return err
	}
	return s.respondIncident(w, r, http.StatusCreated, inc)
}

func (s *Server) getIncident(w http.ResponseWriter, r *http.Request) error {
	inc, err := s.admin.Incident(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.respondIncident(w, r, http.StatusOK, inc)
}

func (s *Server) setComponent(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Status string `json:"status"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	targets, err := s.targets(r.Context(), []componentInput{{ID: r.PathValue("id")}})
	if err != nil {
		return err
	}
	c, err := s.admin.SetComponentStatus(r.Context(), targets[0].ComponentID, herald.ComponentStatus(in.Status), "admin-api")
	if err != nil {
		return err
	}
	s.refresh(r.Context())
	docs := statusapi.Build(statusapi.Input{Page: s.plan.Page, Location: s.loc, UpdatedAt: c.UpdatedAt,
		Components: []herald.Component{c}, Status: herald.Overall([]herald.Component{c}, nil)})
	writeJSON(w, http.StatusOK, map[string]any{"component": docs.Components.Components[0]})
	return nil
}

// respondIncident answers with the incident in Statuspage's shape, after
// the public snapshot has been rebuilt: the caller reads its own write.
func (s *Server) respondIncident(w http.ResponseWriter, r *http.Request, status int, inc herald.Incident) error {
	s.refresh(r.Context())
	comps, err := s.admin.Components(r.Context())
	if err != nil {
		return err
	}
	docs := statusapi.Build(statusapi.Input{Page: s.plan.Page, Location: s.loc, UpdatedAt: inc.UpdatedAt,
		Components: comps, Incidents: []herald.Incident{inc}})
	w.Header().Set("Location", "/incidents/"+inc.ID)
	if inc.Kind == herald.KindMaintenance {
		writeJSON(w, status, map[string]any{"scheduled_maintenance": docs.Maintenances.ScheduledMaintenances[0]})
		return nil
	}
	writeJSON(w, status, map[string]any{"incident": docs.Incidents.Incidents[0]})
	return nil
}

func (s *Server) refresh(ctx context.Context) {
	if err := s.public.Refresh(ctx); err != nil {
		s.log.Error("rebuild status snapshot after a write", "error", err)
	}
}
