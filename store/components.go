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
		COALESCE(group_id, ''), created_at, updated_at FROM components WHERE archived = FALSE AND is_group = FALSE ORDER BY position, name`
	selectComponentsForUpdate = `SELECT id, key, name, description, position, status, showcase, only_show_if_degraded,
		COALESCE(group_id, ''), created_at, updated_at FROM components WHERE archived = FALSE AND is_group = FALSE ORDER BY position, name FOR UPDATE`
	selectGroups = `SELECT id, key, name, description, position, created_at, updated_at FROM components
		WHERE archived = FALSE AND is_group = TRUE ORDER BY position, name`
	selectComponentKeys = `SELECT id, key, archived, is_group FROM components`
	insertComponent     = `INSERT INTO components (id, key, name, description, position, status, showcase,
		only_show_if_degraded, archived, group_id, is_group, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, 'operational', TRUE, FALSE, FALSE, $6, $7, $8, $8)`
	updateComponentSpec = `UPDATE components SET name = $2, description = $3, position = $4, group_id = $5, archived = FALSE,
		updated_at = $6 WHERE id = $1 AND managed_by = 'config'
		AND (name <> $2 OR description <> $3 OR position <> $4 OR COALESCE(group_id, '') <> COALESCE($5, '') OR archived)`
	unarchiveComponent = `UPDATE components SET archived = FALSE, updated_at = $2 WHERE id = $1 AND archived`
	editComponent      = `UPDATE components SET name = $2, description = $3, position = $4, group_id = $5, managed_by = 'console',
		updated_at = $6 WHERE id = $1 AND archived = FALSE AND is_group = FALSE`
	editGroup = `UPDATE components SET name = $2, description = $3, position = $4, managed_by = 'console',
		updated_at = $5 WHERE id = $1 AND archived = FALSE AND is_group = TRUE`
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

// SyncComponents makes the stored components and groups match the
// configuration: new keys are added (components operational, with their first
// history entry), names, descriptions, groups and order follow the file unless
// edited in the console, and keys no longer listed are archived, never
// deleted, so their history stays. A group takes its place in the order where
// its first component is listed.
func (s *Store) SyncComponents(ctx context.Context, groups []herald.GroupSpec, specs []herald.ComponentSpec) error {
	now := s.Now()
	// A start with an unchanged file writes nothing: each replica's start
	// would otherwise make every replica rebuild and every browser fetch
	// the same page again under a new ETag.
	return s.transactChanges(ctx, func(tx *sql.Tx) (bool, error) {
		changed := false
		// exec runs a write and notes whether it changed a row.
		exec := func(query string, args ...any) error {
			res, err := tx.ExecContext(ctx, s.q(query), args...)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n > 0 {
				changed = true // when unknown, count it as a change
			}
			return nil
		}
		rows, err := tx.QueryContext(ctx, selectComponentKeys)
		if err != nil {
			return false, fmt.Errorf("store: list component keys: %w", err)
		}
		ids := map[string]string{}
		archived := map[string]bool{}
		isGroup := map[string]bool{}
		for rows.Next() {
			var id, key string
			var arch, grp bool
			if err := rows.Scan(&id, &key, &arch, &grp); err != nil {
				rows.Close()
				return false, fmt.Errorf("store: scan component key: %w", err)
			}
			ids[key], archived[key], isGroup[key] = id, arch, grp
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return false, fmt.Errorf("store: list component keys: %w", err)
		}
		groupSpecs := make(map[string]herald.GroupSpec, len(groups))
		for _, g := range groups {
			groupSpecs[g.Key] = g
		}
		listed := map[string]bool{}
		position := 0
		// put writes one component or group, returning its id.
		put := func(key, name, description string, group bool, groupID any) (string, error) {
			position++
			listed[key] = true
			if id, ok := ids[key]; ok {
				if isGroup[key] != group {
					what := map[bool]string{true: "a group", false: "a component"}
					return "", fmt.Errorf("store: %q was %s and is now %s: give it a new key: %w",
						key, what[isGroup[key]], what[group], herald.ErrInvalid)
				}
				if err := exec(updateComponentSpec, id, name, description, position, groupID, now); err != nil {
					return "", fmt.Errorf("store: update component %s: %w", key, err)
				}
				if err := exec(unarchiveComponent, id, now); err != nil {
					return "", fmt.Errorf("store: unarchive component %s: %w", key, err)
				}
				return id, nil
			}
			id := newID()
			changed = true
			if _, err := tx.ExecContext(ctx, s.q(insertComponent), id, key, name, description, position, groupID, group, now); err != nil {
				return "", fmt.Errorf("store: insert component %s: %w", key, err)
			}
			if !group {
				if _, err := tx.ExecContext(ctx, s.q(insertStatusChange), id, herald.Operational, now, nil, "config"); err != nil {
					return "", fmt.Errorf("store: first status of %s: %w", key, err)
				}
			}
			ids[key] = id
			return id, nil
		}
		for _, c := range specs {
			var groupID any
			if c.Group != "" {
				g, ok := groupSpecs[c.Group]
				if !ok {
					return false, fmt.Errorf("store: component %s: group %q is not configured: %w", c.Key, c.Group, herald.ErrInvalid)
				}
				if !listed[g.Key] {
					if _, err := put(g.Key, g.Name, g.Description, true, nil); err != nil {
						return false, err
					}
				}
				groupID = ids[g.Key]
			}
			if _, err := put(c.Key, c.Name, c.Description, false, groupID); err != nil {
				return false, err
			}
		}
		for key, id := range ids {
			// A group made in the console is not in the file: keep it.
			if !listed[key] && !archived[key] && !(isGroup[key] && key == consoleGroupKey(id)) {
				if err := exec(archiveComponent, id, now); err != nil {
					return false, fmt.Errorf("store: archive component %s: %w", key, err)
				}
			}
		}
		return changed, nil
	})
}

// Groups lists the active component groups in display order.
func (s *Store) Groups(ctx context.Context) ([]herald.ComponentGroup, error) {
	rows, err := s.db.QueryContext(ctx, selectGroups)
	if err != nil {
		return nil, fmt.Errorf("store: list groups: %w", err)
	}
	defer rows.Close()
	var out []herald.ComponentGroup
	for rows.Next() {
		var g herald.ComponentGroup
		if err := rows.Scan(&g.ID, &g.Key, &g.Name, &g.Description, &g.Position, &g.CreatedAt, &g.UpdatedAt); err != nil {
			return nil, fmt.Errorf("store: scan group: %w", err)
		}
		g.CreatedAt, g.UpdatedAt = g.CreatedAt.UTC(), g.UpdatedAt.UTC()
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list groups: %w", err)
	}
	return out, nil
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
	var changeID int64
	if err := tx.QueryRowContext(ctx, s.q(insertStatusChange+` RETURNING id`), componentID, status, at, nullString(incidentID), actor).Scan(&changeID); err != nil {
		return fmt.Errorf("store: record status change: %w", err)
	}
	// A live change is public: webhook subscribers hear of it.
	return s.queueComponentFanout(ctx, tx, changeID, incidentID, at)
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
func (s *Store) EditComponent(ctx context.Context, id, name, description string, position int, groupID, actor string) (herald.Component, error) {
	name, description = strings.TrimSpace(name), strings.TrimSpace(description)
	errs := checkComponentFields(name, description, position)
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
		var group any
		if groupID != "" {
			var n int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM components WHERE id = $1 AND is_group = TRUE AND archived = FALSE`),
				groupID).Scan(&n); err != nil {
				return fmt.Errorf("store: find group: %w", err)
			}
			if n == 0 {
				var errs herald.ValidationErrors
				errs.Add("group", "is not one of the groups; pick one from the list or none")
				return errs.Err()
			}
			group = groupID
		}
		if _, err := tx.ExecContext(ctx, s.q(editComponent), id, name, description, position, group, now); err != nil {
			return fmt.Errorf("store: edit component: %w", err)
		}
		out = before
		out.Name, out.Description, out.Position, out.GroupID, out.UpdatedAt = name, description, position, groupID, now
		return s.audit(ctx, tx, auditRecord{Actor: actor, Action: "component.edit", Entity: "component", EntityID: id,
			Before: map[string]any{"name": before.Name, "description": before.Description, "position": before.Position, "group_id": before.GroupID},
			After:  map[string]any{"name": name, "description": description, "position": position, "group_id": groupID}})
	})
	return out, err
}

func checkComponentFields(name, description string, position int) herald.ValidationErrors {
	var errs herald.ValidationErrors
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
	return errs
}

// CreateGroup adds a component group from the console; components join it
// through EditComponent. It stays hidden on the public page until it has a
// member.
func (s *Store) CreateGroup(ctx context.Context, name, description string, position int, actor string) (herald.ComponentGroup, error) {
	name, description = strings.TrimSpace(name), strings.TrimSpace(description)
	errs := checkComponentFields(name, description, position)
	if err := errs.Err(); err != nil {
		return herald.ComponentGroup{}, err
	}
	now := s.Now()
	g := herald.ComponentGroup{ID: newID(), Name: name, Description: description, Position: position, CreatedAt: now, UpdatedAt: now}
	g.Key = consoleGroupKey(g.ID)
	err := s.transact(ctx, true, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(insertComponent), g.ID, g.Key, name, description, position, nil, true, now); err != nil {
			return fmt.Errorf("store: insert group: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE components SET managed_by = 'console' WHERE id = $1`), g.ID); err != nil {
			return fmt.Errorf("store: insert group: %w", err)
		}
		return s.audit(ctx, tx, auditRecord{Actor: actor, Action: "group.create", Entity: "component", EntityID: g.ID,
			After: map[string]any{"name": name, "description": description, "position": position}})
	})
	return g, err
}

// consoleGroupKey is the key of a group made in the console, which the
// configuration file does not list and a sync must not archive.
func consoleGroupKey(id string) string { return "group-" + id }

// EditGroup renames, describes or moves a group; as with components, the
// console's edit wins over the configuration file from then on.
func (s *Store) EditGroup(ctx context.Context, id, name, description string, position int, actor string) (herald.ComponentGroup, error) {
	name, description = strings.TrimSpace(name), strings.TrimSpace(description)
	errs := checkComponentFields(name, description, position)
	if err := errs.Err(); err != nil {
		return herald.ComponentGroup{}, err
	}
	now := s.Now()
	var out herald.ComponentGroup
	err := s.transact(ctx, true, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.q(`SELECT id, key, name, description, position, created_at, updated_at FROM components
			WHERE id = $1 AND is_group = TRUE AND archived = FALSE`), id).
			Scan(&out.ID, &out.Key, &out.Name, &out.Description, &out.Position, &out.CreatedAt, &out.UpdatedAt)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: group %q: %w", id, herald.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: find group: %w", err)
		}
		before := out
		if _, err := tx.ExecContext(ctx, s.q(editGroup), id, name, description, position, now); err != nil {
			return fmt.Errorf("store: edit group: %w", err)
		}
		out.Name, out.Description, out.Position, out.UpdatedAt = name, description, position, now
		out.CreatedAt = out.CreatedAt.UTC()
		return s.audit(ctx, tx, auditRecord{Actor: actor, Action: "group.edit", Entity: "component", EntityID: id,
			Before: map[string]any{"name": before.Name, "description": before.Description, "position": before.Position},
			After:  map[string]any{"name": name, "description": description, "position": position}})
	})
	return out, err
}
