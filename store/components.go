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
	selectComponents = `SELECT id, key, name, description, position, status, showcase, only_show_if_degraded,
		COALESCE(group_id, ''), created_at, updated_at FROM components WHERE archived = FALSE ORDER BY position, name`
	selectComponentsForUpdate = `SELECT id, key, name, description, position, status, showcase, only_show_if_degraded,
		COALESCE(group_id, ''), created_at, updated_at FROM components WHERE archived = FALSE ORDER BY position, name FOR UPDATE`
	selectComponentKeys = `SELECT id, key, archived FROM components`
	insertComponent     = `INSERT INTO components (id, key, name, description, position, status, showcase,
		only_show_if_degraded, archived, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'operational', TRUE, FALSE, FALSE, $6, $6)`
	updateComponentSpec = `UPDATE components SET name = $2, description = $3, position = $4, archived = FALSE,
		updated_at = $5 WHERE id = $1 AND managed_by = 'config' AND (name <> $2 OR description <> $3 OR position <> $4 OR archived)`
	unarchiveComponent = `UPDATE components SET archived = FALSE, updated_at = $2 WHERE id = $1 AND archived`
	editComponent      = `UPDATE components SET name = $2, description = $3, position = $4, managed_by = 'console',
		updated_at = $5 WHERE id = $1 AND archived = FALSE`
	archiveComponent      = `UPDATE components SET archived = TRUE, updated_at = $2 WHERE id = $1 AND archived = FALSE`
	updateComponentStatus = `UPDATE components SET status = $2, updated_at = $3 WHERE id = $1`
	insertStatusChange    = `INSERT INTO component_status_changes (component_id, status, changed_at, incident_id, actor)
		VALUES ($1, $2, $3, $4, $5)`
	selectStatusHistory = `SELECT component_id, status, changed_at, COALESCE(incident_id, '') FROM component_status_changes c
		WHERE changed_at >= $1
		   OR changed_at = (SELECT MAX(changed_at) FROM component_status_changes p
		                    WHERE p.component_id = c.component_id AND p.changed_at < $1)
		ORDER BY component_id, changed_at, id`
)

// SyncComponents makes the stored components match the configuration: new
// keys are added (operational, with their first history entry), names,
// descriptions and order follow the file, and components no longer listed
// are archived, never deleted, so their history stays.
func (s *Store) SyncComponents(ctx context.Context, specs []herald.ComponentSpec) error {
	now := s.Now()
	return s.transact(ctx, true, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, selectComponentKeys)
		if err != nil {
			return fmt.Errorf("store: list component keys: %w", err)
		}
		ids := map[string]string{}
		archived := map[string]bool{}
		for rows.Next() {
			var id, key string
			var arch bool
			if err := rows.Scan(&id, &key, &arch); err != nil {
				rows.Close()
				return fmt.Errorf("store: scan component key: %w", err)
			}
			ids[key], archived[key] = id, arch
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store: list component keys: %w", err)
		}
		listed := map[string]bool{}
		for i, c := range specs {
			listed[c.Key] = true
			if id, ok := ids[c.Key]; ok {
				if _, err := tx.ExecContext(ctx, s.q(updateComponentSpec), id, c.Name, c.Description, i+1, now); err != nil {
					return fmt.Errorf("store: update component %s: %w", c.Key, err)
				}
				if _, err := tx.ExecContext(ctx, s.q(unarchiveComponent), id, now); err != nil {
					return fmt.Errorf("store: unarchive component %s: %w", c.Key, err)
				}
				continue
			}
			id := newID()
			if _, err := tx.ExecContext(ctx, s.q(insertComponent), id, c.Key, c.Name, c.Description, i+1, now); err != nil {
				return fmt.Errorf("store: insert component %s: %w", c.Key, err)
			}
			if _, err := tx.ExecContext(ctx, s.q(insertStatusChange), id, herald.Operational, now, nil, "config"); err != nil {
				return fmt.Errorf("store: first status of %s: %w", c.Key, err)
			}
		}
		for key, id := range ids {
			if !listed[key] && !archived[key] {
				if _, err := tx.ExecContext(ctx, s.q(archiveComponent), id, now); err != nil {
					return fmt.Errorf("store: archive component %s: %w", key, err)
				}
			}
		}
		return nil
	})
}

// Components lists the active components in display order.
func (s *Store) Components(ctx context.Context) ([]herald.Component, error) {
	return queryComponents(ctx, s.db, selectComponents)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func queryComponents(ctx context.Context, db querier, query string, args ...any) ([]herald.Component, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list components: %w", err)
	}
	defer rows.Close()
	var out []herald.Component
	for rows.Next() {
		var c herald.Component
		if err := rows.Scan(&c.ID, &c.Key, &c.Name, &c.Description, &c.Position, &c.Status, &c.Showcase,
			&c.OnlyShowIfDegraded, &c.GroupID, &c.CreatedAt, &c.UpdatedAt); err != nil {
			return nil, fmt.Errorf("store: scan component: %w", err)
		}
		c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list components: %w", err)
	}
	return out, nil
}

// componentMap loads the components inside a write transaction, locked on
// PostgreSQL so concurrent updates see each other's status changes.
func (s *Store) componentMap(ctx context.Context, tx *sql.Tx) (map[string]herald.Component, error) {
	list, err := queryComponents(ctx, tx, s.q(selectComponentsForUpdate))
	if err != nil {
		return nil, err
	}
	m := make(map[string]herald.Component, len(list))
	for _, c := range list {
		m[c.ID] = c
	}
	return m, nil
}

// SetComponentStatus changes one component's status outside any incident,
// recording it in the history.
func (s *Store) SetComponentStatus(ctx context.Context, componentID string, status herald.ComponentStatus, actor string) (herald.Component, error) {
	if _, err := herald.ParseComponentStatus(string(status)); err != nil {
		return herald.Component{}, err
	}
	now := s.Now()
	var out herald.Component
	err := s.transact(ctx, true, func(tx *sql.Tx) error {
		comps, err := s.componentMap(ctx, tx)
		if err != nil {
			return err
		}
		c, ok := comps[componentID]
		if !ok {
			return fmt.Errorf("store: component %q: %w", componentID, herald.ErrNotFound)
		}
		if c.Status != status {
			if err := s.writeStatus(ctx, tx, componentID, status, "", actor, now); err != nil {
				return err
			}
			if err := s.audit(ctx, tx, auditRecord{Actor: actor, Action: "component.status", Entity: "component",
				EntityID: componentID, Before: map[string]any{"status": c.Status}, After: map[string]any{"status": status}}); err != nil {
				return err
			}
			c.Status, c.UpdatedAt = status, now
		}
		out = c
		return nil
	})
	return out, err
}

func (s *Store) writeStatus(ctx context.Context, tx *sql.Tx, componentID string, status herald.ComponentStatus, incidentID, actor string, at time.Time) error {
	if _, err := tx.ExecContext(ctx, s.q(updateComponentStatus), componentID, status, at); err != nil {
		return fmt.Errorf("store: update component status: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.q(insertStatusChange), componentID, status, at, nullString(incidentID), actor); err != nil {
		return fmt.Errorf("store: record status change: %w", err)
	}
	return nil
}

// StatusHistory returns every component's status changes since `since`,
// plus the last change before it, so the window starts in the right status.
// It is ordered by component, then time.
func (s *Store) StatusHistory(ctx context.Context, since time.Time) ([]herald.StatusChange, error) {
	rows, err := s.db.QueryContext(ctx, s.q(selectStatusHistory), since.UTC())
	if err != nil {
		return nil, fmt.Errorf("store: status history: %w", err)
	}
	defer rows.Close()
	var out []herald.StatusChange
	for rows.Next() {
		var c herald.StatusChange
		if err := rows.Scan(&c.ComponentID, &c.Status, &c.At, &c.IncidentID); err != nil {
			return nil, fmt.Errorf("store: scan status change: %w", err)
		}
		c.At = c.At.UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: status history: %w", err)
	}
	return out, nil
}

// RecordStatusAt writes a status change at a past time. It exists for
// importing history (and for the benchmark's 90 days of data); live changes
// go through SetComponentStatus or an incident update.
func (s *Store) RecordStatusAt(ctx context.Context, componentID string, status herald.ComponentStatus, at time.Time, actor string) error {
	if _, err := herald.ParseComponentStatus(string(status)); err != nil {
		return err
	}
	return s.transact(ctx, true, func(tx *sql.Tx) error {
		var cur string
		err := tx.QueryRowContext(ctx, s.q(`SELECT status FROM components WHERE id = $1`), componentID).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: component %q: %w", componentID, herald.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: component status: %w", err)
		}
		_, err = tx.ExecContext(ctx, s.q(insertStatusChange), componentID, status, at.UTC().Truncate(time.Microsecond), nil, actor)
		if err != nil {
			return fmt.Errorf("store: record status change: %w", err)
		}
		return nil
	})
}

// EditComponent changes a component's name, description and position from
// the console. From then on the configuration file no longer overwrites
// them (its key still ties the two together).
func (s *Store) EditComponent(ctx context.Context, id, name, description string, position int, actor string) (herald.Component, error) {
	var errs herald.ValidationErrors
	name, description = strings.TrimSpace(name), strings.TrimSpace(description)
	switch {
	case name == "":
		errs.Add("name", "must not be empty")
	case len([]rune(name)) > herald.MaxNameLen:
		errs.Add("name", fmt.Sprintf("is longer than %d characters", herald.MaxNameLen))
	}
	if len([]rune(description)) > 1000 {
		errs.Add("description", "is longer than 1000 characters")
	}
	if position < 1 || position > 1000 {
		errs.Add("position", "must be a whole number from 1 to 1000")
	}
	if err := errs.Err(); err != nil {
		return herald.Component{}, err
	}
	now := s.Now()
	var out herald.Component
	err := s.transact(ctx, true, func(tx *sql.Tx) error {
		comps, err := s.componentMap(ctx, tx)
		if err != nil {
			return err
		}
		before, ok := comps[id]
		if !ok {
			return fmt.Errorf("store: component %q: %w", id, herald.ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, s.q(editComponent), id, name, description, position, now); err != nil {
			return fmt.Errorf("store: edit component: %w", err)
		}
		out = before
		out.Name, out.Description, out.Position, out.UpdatedAt = name, description, position, now
		return s.audit(ctx, tx, auditRecord{Actor: actor, Action: "component.edit", Entity: "component", EntityID: id,
			Before: map[string]any{"name": before.Name, "description": before.Description, "position": before.Position},
			After:  map[string]any{"name": name, "description": description, "position": position}})
	})
	return out, err
}
