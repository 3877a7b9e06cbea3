package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kredete/herald"
)

const (
	upsertRole = `INSERT INTO incident_roles (incident_id, role, user_id, assigned_at, assigned_by) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (incident_id, role) DO UPDATE SET user_id = excluded.user_id, assigned_at = excluded.assigned_at,
		assigned_by = excluded.assigned_by`
	selectSeat  = `SELECT user_id FROM incident_roles WHERE incident_id = $1 AND role = $2`
	selectRoles = `SELECT r.role, r.user_id, u.name, r.assigned_at, r.assigned_by FROM incident_roles r
		JOIN users u ON u.id = r.user_id WHERE r.incident_id = $1`
	insertCommunication = `INSERT INTO communications (id, incident_id, update_id, audience, body, state, author, created_at)
		VALUES ($1, $2, $3, $4, $5, 'recorded', $6, $7)`
	communicationColumns = `id, incident_id, COALESCE(update_id, ''), audience, body, state, author, created_at`
)

// DeclareIncident declares from the console: the declaration, the
// commander's seat, and the first message recorded for each audience told
// (the public page and every real-time audience), in one transaction.
func (s *Store) DeclareIncident(ctx context.Context, d herald.Declaration, commanderID string, told []string, actor string) (herald.Incident, error) {
	return s.declare(ctx, d, actor, func(tx *sql.Tx, in *herald.Incident, now time.Time) error {
		if commanderID != "" {
			if err := s.assign(ctx, tx, in.ID, herald.SeatCommander, commanderID, actor, now); err != nil {
				return err
			}
		}
		return s.recordCommunications(ctx, tx, in.ID, in.Updates[0].ID, told, func(string) string { return in.Updates[0].Body }, actor, now)
	})
}

// Compose posts one update written for every audience: a public update
// when the public audience is ticked (with the status, impact and component
// changes), and what each ticked audience is told, in one transaction.
// version must match the incident's, else ErrStale.
func (s *Store) Compose(ctx context.Context, id string, version int, c herald.Composition, plan herald.Plan, actor string) (herald.Incident, error) {
	return s.withIncident(ctx, id, version, actor, func(tx *sql.Tx, in *herald.Incident, comps map[string]herald.Component, now time.Time) error {
		if err := c.Validate(plan, *in); err != nil {
			return err
		}
		updateID := ""
		if pub, ok := plan.PublicAudience(); ok && c.Sends(pub.Key) {
			up, err := in.Apply(herald.UpdateInput{Status: c.Status, Impact: c.Impact, Body: c.TextFor(pub.Key),
				Components: c.Components}, comps, now)
			if err != nil {
				return err
			}
			if err := s.storeUpdate(ctx, tx, in, &up, actor, now); err != nil {
				return err
			}
			updateID = up.ID
		} else if !in.Open() {
			return fmt.Errorf("%w: the incident is %s; reopen it first", herald.ErrClosed, in.Status)
		}
		in.UpdatedAt = now
		if plan.RegulatorsRequired(in.Impact) && !in.NotifyRegulators && in.Open() {
			if err := in.FlagRegulators(now); err != nil {
				return err
			}
			if err := s.timeline(ctx, tx, in.ID, "regulator", actor, fmt.Sprintf(
				"Marked as needing regulator notification (%s impact requires it under the plan): the regulatory clock starts",
				in.Impact.Label()), now); err != nil {
				return err
			}
		}
		return s.recordCommunications(ctx, tx, in.ID, updateID, c.Audiences, c.TextFor, actor, now)
	})
}

func (s *Store) recordCommunications(ctx context.Context, tx *sql.Tx, incidentID, updateID string, audiences []string,
	text func(string) string, actor string, now time.Time) error {
	if len(audiences) == 0 {
		return nil
	}
	for _, a := range audiences {
		commID := newID()
		if _, err := tx.ExecContext(ctx, s.q(insertCommunication), commID, incidentID, nullString(updateID), a, text(a), actor, now); err != nil {
			return fmt.Errorf("store: record communication: %w", err)
		}
		if err := s.fanoutCommunication(ctx, tx, incidentID, commID, a, herald.KindMessage, text(a), now); err != nil {
			return err
		}
	}
	told := make(map[string]string, len(audiences))
	for _, a := range audiences {
		told[a] = text(a)
	}
	if err := s.audit(ctx, tx, auditRecord{Actor: actor, Action: "incident.communicate", IncidentID: incidentID,
		Entity: "communication", EntityID: incidentID, After: map[string]any{"update_id": updateID, "told": told}}); err != nil {
		return err
	}
	return s.timeline(ctx, tx, incidentID, "communication", actor, "Told "+strings.Join(audiences, ", "), now)
}

// AssignRole seats a user in an incident role.
func (s *Store) AssignRole(ctx context.Context, id string, version int, seat herald.IncidentRole, userID, actor string) (herald.Incident, error) {
	if _, err := herald.ParseIncidentRole(string(seat)); err != nil {
		return herald.Incident{}, err
	}
	user, err := s.User(ctx, userID)
	if err != nil {
		return herald.Incident{}, err
	}
	return s.withIncident(ctx, id, version, actor, func(tx *sql.Tx, in *herald.Incident, _ map[string]herald.Component, now time.Time) error {
		if err := s.assign(ctx, tx, id, seat, userID, actor, now); err != nil {
			return err
		}
		in.UpdatedAt = now
		return s.timeline(ctx, tx, id, "role", actor, seat.Label()+": "+user.Name, now)
	})
}

func (s *Store) assign(ctx context.Context, tx *sql.Tx, incidentID string, seat herald.IncidentRole, userID, actor string, now time.Time) error {
	// The audit log shows who held the seat before: a handover is a change,
	// not only a new holder.
	var before any
	var prev string
	err := tx.QueryRowContext(ctx, s.q(selectSeat), incidentID, seat).Scan(&prev)
	switch {
	case err == nil:
		before = map[string]any{"role": seat, "user_id": prev}
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: seat holder: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.q(upsertRole), incidentID, seat, userID, now, actor); err != nil {
		return fmt.Errorf("store: assign role: %w", err)
	}
	return s.audit(ctx, tx, auditRecord{Actor: actor, Action: "incident.role", IncidentID: incidentID, Entity: "incident_role",
		EntityID: incidentID + "/" + string(seat), Before: before, After: map[string]any{"role": seat, "user_id": userID}})
}

// Assignments lists who holds each seat of an incident.
func (s *Store) Assignments(ctx context.Context, incidentID string) (map[herald.IncidentRole]herald.Assignment, error) {
	rows, err := s.db.QueryContext(ctx, s.q(selectRoles), incidentID)
	if err != nil {
		return nil, fmt.Errorf("store: roles: %w", err)
	}
	defer rows.Close()
	out := map[herald.IncidentRole]herald.Assignment{}
	for rows.Next() {
		var a herald.Assignment
		if err := rows.Scan(&a.Role, &a.UserID, &a.UserName, &a.AssignedAt, &a.AssignedBy); err != nil {
			return nil, fmt.Errorf("store: scan role: %w", err)
		}
		a.AssignedAt = a.AssignedAt.UTC()
		out[a.Role] = a
	}
	return out, rows.Err()
}

// Commanders maps each open incident to its commander's name.
func (s *Store) Commanders(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT r.incident_id, u.name FROM incident_roles r JOIN users u ON u.id = r.user_id
		JOIN incidents i ON i.id = r.incident_id WHERE r.role = 'commander' AND i.resolved_at IS NULL`)
	if err != nil {
		return nil, fmt.Errorf("store: commanders: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("store: scan commander: %w", err)
		}
		out[id] = name
	}
	return out, rows.Err()
}

// AddNote adds a responder's note to the timeline. Notes do not change the
// incident, so they never make someone else's edit stale.
func (s *Store) AddNote(ctx context.Context, id, note, actor string) error {
	note = strings.TrimSpace(note)
	var errs herald.ValidationErrors
	switch {
	case note == "":
		errs.Add("note", "must not be empty")
	case len([]rune(note)) > herald.MaxBodyLen:
		errs.Add("note", fmt.Sprintf("is longer than %d characters", herald.MaxBodyLen))
	}
	if err := errs.Err(); err != nil {
		return err
	}
	return s.transact(ctx, true, func(tx *sql.Tx) error {
		var exists int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM incidents WHERE id = $1`), id).Scan(&exists); err != nil {
			return fmt.Errorf("store: note: %w", err)
		}
		if exists == 0 {
			return fmt.Errorf("store: incident %q: %w", id, herald.ErrNotFound)
		}
		now := s.Now()
		if err := s.timeline(ctx, tx, id, "note", actor, note, now); err != nil {
			return err
		}
		return s.audit(ctx, tx, auditRecord{Actor: actor, Action: "incident.note", IncidentID: id, Entity: "note",
			EntityID: id, After: map[string]any{"note": note}})
	})
}

// SetIncidentComponent changes one component's status from an incident's
// page, recorded against the incident (no public message).
func (s *Store) SetIncidentComponent(ctx context.Context, id string, version int, componentID string, status herald.ComponentStatus, actor string) (herald.Incident, error) {
	if _, err := herald.ParseComponentStatus(string(status)); err != nil {
		return herald.Incident{}, err
	}
	return s.withIncident(ctx, id, version, actor, func(tx *sql.Tx, in *herald.Incident, comps map[string]herald.Component, now time.Time) error {
		c, ok := comps[componentID]
		if !ok {
			return &herald.ValidationError{Field: "component", Problem: fmt.Sprintf("unknown component %q", componentID)}
		}
		if !in.Open() {
			return fmt.Errorf("%w: the incident is %s; reopen it first", herald.ErrClosed, in.Status)
		}
		if in.Drill {
			return &herald.ValidationError{Field: "component", Problem: "a drill never changes a component's status: the public page must not move"}
		}
		if c.Status == status {
			return nil
		}
		if err := s.writeStatus(ctx, tx, componentID, status, in.ID, actor, now); err != nil {
			return err
		}
		// The incident's own entry shows its component list; this one shows
		// the status that changed.
		if err := s.audit(ctx, tx, auditRecord{Actor: actor, Action: "component.status", IncidentID: in.ID, Entity: "component",
			EntityID: componentID, Before: map[string]any{"status": c.Status}, After: map[string]any{"status": status}}); err != nil {
			return err
		}
		if !in.Affects(componentID) {
			in.ComponentIDs = append(in.ComponentIDs, componentID)
		}
		in.UpdatedAt = now
		return s.timeline(ctx, tx, in.ID, "component", actor, c.Name+": "+c.Status.Label()+" → "+status.Label(), now)
	})
}

// SetDataLoss records the estimated data loss, against the plan's RPO.
func (s *Store) SetDataLoss(ctx context.Context, id string, version int, loss time.Duration, actor string) (herald.Incident, error) {
	if loss < 0 || loss > 1000*24*time.Hour {
		return herald.Incident{}, &herald.ValidationError{Field: "minutes", Problem: "must be a number of minutes from 0"}
	}
	return s.withIncident(ctx, id, version, actor, func(tx *sql.Tx, in *herald.Incident, _ map[string]herald.Component, now time.Time) error {
		in.DataLoss = &loss
		in.DataLossSource = actor
		in.UpdatedAt = now
		return s.timeline(ctx, tx, id, "data_loss", actor, fmt.Sprintf("Estimated data loss set to %d min", int(loss.Minutes())), now)
	})
}

// Communications lists what audiences were told about the given incidents.
func (s *Store) Communications(ctx context.Context, incidentIDs []string) ([]herald.Communication, error) {
	if len(incidentIDs) == 0 {
		return nil, nil
	}
	in, args := inList(incidentIDs)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+communicationColumns+` FROM communications WHERE incident_id IN (`+in+`) ORDER BY created_at`), args...)
	if err != nil {
		return nil, fmt.Errorf("store: communications: %w", err)
	}
	defer rows.Close()
	var out []herald.Communication
	for rows.Next() {
		var c herald.Communication
		if err := rows.Scan(&c.ID, &c.IncidentID, &c.UpdateID, &c.Audience, &c.Body, &c.State, &c.Author, &c.CreatedAt); err != nil {
			return nil, fmt.Errorf("store: scan communication: %w", err)
		}
		c.CreatedAt = c.CreatedAt.UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// SearchResolved finds resolved incidents by title or component name,
// newest first.
func (s *Store) SearchResolved(ctx context.Context, q string, limit int) ([]herald.Incident, error) {
	like := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(strings.TrimSpace(q))) + "%"
	match := `kind = 'incident' AND resolved_at IS NOT NULL AND (LOWER(name) LIKE $1 ESCAPE '\'
		OR id IN (SELECT ic.incident_id FROM incident_components ic JOIN components c ON c.id = ic.component_id
		          WHERE LOWER(c.name) LIKE $1 ESCAPE '\'))`
	where := fmt.Sprintf(`id IN (SELECT id FROM incidents WHERE %s ORDER BY resolved_at DESC LIMIT %d)`, match, max(1, limit))
	return s.loadIncidents(ctx, s.db, where, like)
}

// OpenIncidents lists every open incident and maintenance, newest first.
func (s *Store) OpenIncidents(ctx context.Context) ([]herald.Incident, error) {
	return s.loadIncidents(ctx, s.db, `resolved_at IS NULL`)
}
