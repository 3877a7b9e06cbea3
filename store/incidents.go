package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kredete/herald"
)

const (
	incidentColumns = `id, kind, name, status, impact, notify_regulators, created_at, updated_at, started_at,
		monitoring_at, resolved_at, scheduled_for, scheduled_until, version, data_loss_seconds, regulators_at,
		data_loss_source, restored_at, restored_by, drill, pagerduty_resolved_at, triage`
	insertIncident = `INSERT INTO incidents (id, kind, name, status, impact, notify_regulators, created_by, created_at,
		updated_at, started_at, monitoring_at, resolved_at, scheduled_for, scheduled_until, drill)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`
	updateIncident = `UPDATE incidents SET status = $2, impact = $3, updated_at = $4, started_at = $5, monitoring_at = $6,
		resolved_at = $7, data_loss_seconds = $8, notify_regulators = $9, regulators_at = $10, data_loss_source = $11,
		restored_at = $12, restored_by = $13, pagerduty_resolved_at = $14, triage = $15, version = version + 1 WHERE id = $1`
	insertIncidentComponent = `INSERT INTO incident_components (incident_id, component_id, position) VALUES ($1, $2, $3)
		ON CONFLICT (incident_id, component_id) DO NOTHING`
	insertUpdate = `INSERT INTO incident_updates (id, incident_id, status, body, author, created_at, updated_at, display_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	insertChange = `INSERT INTO update_component_changes (update_id, component_id, position, old_status, new_status)
		VALUES ($1, $2, $3, $4, $5)`
	insertTimeline          = `INSERT INTO timeline_events (incident_id, kind, actor, summary, at) VALUES ($1, $2, $3, $4, $5)`
	selectIncident          = `SELECT ` + incidentColumns + ` FROM incidents WHERE id = $1`
	selectIncidentForUpdate = selectIncident + ` FOR UPDATE`
	// recentWhere picks what the public page needs: everything open, and
	// everything that ended or was scheduled since $1.
	recentWhere = `(resolved_at IS NULL OR resolved_at >= $1 OR created_at >= $1)`
)

// RecentIncidents loads every open incident and maintenance, and those
// resolved or created since `since`, with their updates and components:
// all the public page shows. Newest first.
func (s *Store) RecentIncidents(ctx context.Context, since time.Time) ([]herald.Incident, error) {
	return s.loadIncidents(ctx, s.db, recentWhere, since.UTC())
}

// Incident loads one incident with its updates.
func (s *Store) Incident(ctx context.Context, id string) (herald.Incident, error) {
	list, err := s.loadIncidents(ctx, s.db, `id = $1`, id)
	if err != nil {
		return herald.Incident{}, err
	}
	if len(list) == 0 {
		return herald.Incident{}, fmt.Errorf("store: incident %q: %w", id, herald.ErrNotFound)
	}
	return list[0], nil
}

func (s *Store) loadIncidents(ctx context.Context, db querier, where string, args ...any) ([]herald.Incident, error) {
	rows, err := db.QueryContext(ctx, s.q(`SELECT `+incidentColumns+` FROM incidents WHERE `+where+` ORDER BY created_at DESC, id`), args...)
	if err != nil {
		return nil, fmt.Errorf("store: list incidents: %w", err)
	}
	var list []herald.Incident
	index := map[string]int{}
	for rows.Next() {
		in, err := scanIncident(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		index[in.ID] = len(list)
		list = append(list, in)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list incidents: %w", err)
	}
	if len(list) == 0 {
		return nil, nil
	}
	sub := `SELECT id FROM incidents WHERE ` + where

	rows, err = db.QueryContext(ctx, s.q(`SELECT incident_id, component_id FROM incident_components
		WHERE incident_id IN (`+sub+`) ORDER BY incident_id, position`), args...)
	if err != nil {
		return nil, fmt.Errorf("store: incident components: %w", err)
	}
	for rows.Next() {
		var iid, cid string
		if err := rows.Scan(&iid, &cid); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: scan incident component: %w", err)
		}
		in := &list[index[iid]]
		in.ComponentIDs = append(in.ComponentIDs, cid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: incident components: %w", err)
	}

	rows, err = db.QueryContext(ctx, s.q(`SELECT id, incident_id, status, body, created_at, updated_at, display_at
		FROM incident_updates WHERE incident_id IN (`+sub+`) ORDER BY incident_id, created_at DESC, id DESC`), args...)
	if err != nil {
		return nil, fmt.Errorf("store: incident updates: %w", err)
	}
	where2 := map[string][2]int{} // update id -> incident index, update index
	for rows.Next() {
		var u herald.Update
		if err := rows.Scan(&u.ID, &u.IncidentID, &u.Status, &u.Body, &u.CreatedAt, &u.UpdatedAt, &u.DisplayAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: scan update: %w", err)
		}
		u.CreatedAt, u.UpdatedAt, u.DisplayAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC(), u.DisplayAt.UTC()
		i := index[u.IncidentID]
		where2[u.ID] = [2]int{i, len(list[i].Updates)}
		list[i].Updates = append(list[i].Updates, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: incident updates: %w", err)
	}

	rows, err = db.QueryContext(ctx, s.q(`SELECT ch.update_id, ch.component_id, c.name, ch.old_status, ch.new_status
		FROM update_component_changes ch JOIN components c ON c.id = ch.component_id
		JOIN incident_updates u ON u.id = ch.update_id
		WHERE u.incident_id IN (`+sub+`) ORDER BY ch.update_id, ch.position`), args...)
	if err != nil {
		return nil, fmt.Errorf("store: component changes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var uid string
		var ch herald.ComponentChange
		if err := rows.Scan(&uid, &ch.ComponentID, &ch.Name, &ch.Old, &ch.New); err != nil {
			return nil, fmt.Errorf("store: scan component change: %w", err)
		}
		if at, ok := where2[uid]; ok {
			u := &list[at[0]].Updates[at[1]]
			u.Changes = append(u.Changes, ch)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: component changes: %w", err)
	}
	return list, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanIncident(r scanner) (herald.Incident, error) {
	var in herald.Incident
	var mon, res, sf, su, reg, restored, pdres sql.NullTime
	var loss sql.NullInt64
	if err := r.Scan(&in.ID, &in.Kind, &in.Name, &in.Status, &in.Impact, &in.NotifyRegulators, &in.CreatedAt,
		&in.UpdatedAt, &in.StartedAt, &mon, &res, &sf, &su, &in.Version, &loss, &reg,
		&in.DataLossSource, &restored, &in.RestoredBy, &in.Drill, &pdres, &in.Triage); err != nil {
		return in, fmt.Errorf("store: scan incident: %w", err)
	}
	in.CreatedAt, in.UpdatedAt, in.StartedAt = in.CreatedAt.UTC(), in.UpdatedAt.UTC(), in.StartedAt.UTC()
	in.MonitoringAt, in.ResolvedAt, in.ScheduledFor, in.ScheduledUntil = timePtr(mon), timePtr(res), timePtr(sf), timePtr(su)
	in.RegulatorsAt, in.RestoredAt, in.PagerDutyResolvedAt = timePtr(reg), timePtr(restored), timePtr(pdres)
	if loss.Valid {
		d := time.Duration(loss.Int64) * time.Second
		in.DataLoss = &d
	}
	return in, nil
}

// Declare validates and stores a new incident or maintenance with its first
// update and the component status changes it makes, in one transaction.
func (s *Store) Declare(ctx context.Context, d herald.Declaration, actor string) (herald.Incident, error) {
	return s.declare(ctx, d, actor, nil)
}

// declare stores a declaration; extra runs in the same transaction (the
// console adds the commander's seat and what each audience was told).
func (s *Store) declare(ctx context.Context, d herald.Declaration, actor string, extra func(tx *sql.Tx, in *herald.Incident, now time.Time) error) (herald.Incident, error) {
	if d.Kind == herald.KindMaintenance {
		d.ScheduledFor = d.ScheduledFor.UTC().Truncate(time.Microsecond)
		d.ScheduledUntil = d.ScheduledUntil.UTC().Truncate(time.Microsecond)
	}
	var out herald.Incident
	err := s.transact(ctx, true, func(tx *sql.Tx) error {
		var err error
		out, err = s.declareTx(ctx, tx, d, actor, extra)
		return err
	})
	return out, err
}

// declareTx is declare inside the caller's transaction.
func (s *Store) declareTx(ctx context.Context, tx *sql.Tx, d herald.Declaration, actor string,
	extra func(tx *sql.Tx, in *herald.Incident, now time.Time) error) (herald.Incident, error) {
	var out herald.Incident
	err := func() error {
		comps, err := s.componentMap(ctx, tx)
		// The clock is read once the components are locked, so concurrent
		// declarations are dated in the order they are stored.
		now := s.Now()
		if err != nil {
			return err
		}
		in, err := herald.Declare(d, comps, now)
		if err != nil {
			return err
		}
		in.ID = newID()
		in.Version = 1
		if _, err := tx.ExecContext(ctx, s.q(insertIncident), in.ID, in.Kind, in.Name, in.Status, in.Impact,
			in.NotifyRegulators, actor, in.CreatedAt, in.UpdatedAt, in.StartedAt, nullTime(in.MonitoringAt),
			nullTime(in.ResolvedAt), nullTime(in.ScheduledFor), nullTime(in.ScheduledUntil), in.Drill); err != nil {
			return fmt.Errorf("store: insert incident: %w", err)
		}
		if err := s.writeIncidentComponents(ctx, tx, in.ID, in.ComponentIDs, 0); err != nil {
			return err
		}
		in.Updates[0].IncidentID = in.ID
		if err := s.writeUpdate(ctx, tx, &in.Updates[0], actor); err != nil {
			return err
		}
		if err := s.queueFanouts(ctx, tx, in, in.Updates[0], true, now); err != nil {
			return err
		}
		summary := fmt.Sprintf("Declared %s %q (%s, impact %s)", in.Kind, in.Name, in.Status, in.Impact)
		if err := s.timeline(ctx, tx, in.ID, "declared", actor, summary, now); err != nil {
			return err
		}
		if err := s.timelineChanges(ctx, tx, in.ID, actor, in.Updates[0].Changes, now); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, auditRecord{Actor: actor, Action: string(in.Kind) + ".declare", IncidentID: in.ID,
			Entity: string(in.Kind), EntityID: in.ID, After: incidentState(in)}); err != nil {
			return err
		}
		if extra != nil {
			if err := extra(tx, &in, now); err != nil {
				return err
			}
		}
		if err := s.pagerDutyOut(ctx, tx, nil, in, now); err != nil {
			return err
		}
		out = in
		return nil
	}()
	return out, err
}

// PostUpdate validates and stores a new update on an incident: its status,
// impact and component changes, in one transaction.
func (s *Store) PostUpdate(ctx context.Context, id string, u herald.UpdateInput, actor string) (herald.Incident, error) {
	return s.withIncident(ctx, id, 0, actor, func(tx *sql.Tx, in *herald.Incident, comps map[string]herald.Component, now time.Time) error {
		up, err := in.Apply(u, comps, now)
		if err != nil {
			return err
		}
		return s.storeUpdate(ctx, tx, in, &up, actor, now)
	})
}

// Reopen puts a resolved incident back to investigating with an update.
func (s *Store) Reopen(ctx context.Context, id, body, actor string) (herald.Incident, error) {
	return s.ReopenVersion(ctx, id, 0, body, actor)
}

// ReopenVersion is Reopen that refuses a stale edit (version > 0).
func (s *Store) ReopenVersion(ctx context.Context, id string, version int, body, actor string) (herald.Incident, error) {
	return s.withIncident(ctx, id, version, actor, func(tx *sql.Tx, in *herald.Incident, _ map[string]herald.Component, now time.Time) error {
		up, err := in.Reopen(body, now)
		if err != nil {
			return err
		}
		return s.storeUpdate(ctx, tx, in, &up, actor, now)
	})
}

// storeUpdate writes a public update the domain has just applied to in.
func (s *Store) storeUpdate(ctx context.Context, tx *sql.Tx, in *herald.Incident, up *herald.Update, actor string, now time.Time) error {
	up.ID = newID()
	up.IncidentID = in.ID
	in.Updates[0] = *up
	if err := s.writeUpdate(ctx, tx, up, actor); err != nil {
		return err
	}
	if err := s.timeline(ctx, tx, in.ID, "update", actor, "Public update ("+up.Status.Label()+"): "+up.Body, now); err != nil {
		return err
	}
	if err := s.queueFanouts(ctx, tx, *in, *up, false, now); err != nil {
		return err
	}
	return s.timelineChanges(ctx, tx, in.ID, actor, up.Changes, now)
}

// ErrStale means someone else changed the incident since the form was
// opened; the edit was not applied.
var ErrStale = fmt.Errorf("someone else changed this incident since you opened it; review the latest state and try again: %w", herald.ErrConflict)

// withIncident runs fn on the locked, freshly loaded incident and saves its
// state, bumping its version, in one transaction. version > 0 must match the
// stored version, else ErrStale: a stale edit is refused, never merged.
func (s *Store) withIncident(ctx context.Context, id string, version int, actor string,
	fn func(tx *sql.Tx, in *herald.Incident, comps map[string]herald.Component, now time.Time) error) (herald.Incident, error) {
	var out herald.Incident
	err := s.transact(ctx, true, func(tx *sql.Tx) error {
		var err error
		out, err = s.changeIncident(ctx, tx, id, version, actor, fn)
		return err
	})
	return out, err
}

// changeIncident is withIncident inside the caller's transaction.
func (s *Store) changeIncident(ctx context.Context, tx *sql.Tx, id string, version int, actor string,
	fn func(tx *sql.Tx, in *herald.Incident, comps map[string]herald.Component, now time.Time) error) (herald.Incident, error) {
	var out herald.Incident
	err := func() error {
		// Lock the incident row first: two commanders posting at once are
		// serialised, and the second sees the first's status.
		if _, err := scanIncident(tx.QueryRowContext(ctx, s.q(selectIncidentForUpdate), id)); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("store: incident %q: %w", id, herald.ErrNotFound)
			}
			return err
		}
		// Read the clock only once the lock is held, so updates are dated
		// in the order they are applied and the timeline stays in order.
		now := s.Now()
		list, err := s.loadIncidents(ctx, tx, `id = $1`, id)
		if err != nil {
			return err
		}
		in := list[0]
		if version > 0 && in.Version != version {
			return ErrStale
		}
		before := incidentState(in)
		comps, err := s.componentMap(ctx, tx)
		if err != nil {
			return err
		}
		nComps := len(in.ComponentIDs)
		prev := in
		if err := fn(tx, &in, comps, now); err != nil {
			return err
		}
		if err := s.pagerDutyOut(ctx, tx, &prev, in, now); err != nil {
			return err
		}
		var loss any
		if in.DataLoss != nil {
			loss = int64(*in.DataLoss / time.Second)
		}
		if _, err := tx.ExecContext(ctx, s.q(updateIncident), in.ID, in.Status, in.Impact, in.UpdatedAt, in.StartedAt,
			nullTime(in.MonitoringAt), nullTime(in.ResolvedAt), loss, in.NotifyRegulators, nullTime(in.RegulatorsAt),
			in.DataLossSource, nullTime(in.RestoredAt), in.RestoredBy, nullTime(in.PagerDutyResolvedAt), in.Triage); err != nil {
			return fmt.Errorf("store: update incident: %w", err)
		}
		in.Version++
		if err := s.writeIncidentComponents(ctx, tx, in.ID, in.ComponentIDs[nComps:], nComps); err != nil {
			return err
		}
		after := incidentState(in)
		if err := s.audit(ctx, tx, auditRecord{Actor: actor, Action: string(in.Kind) + ".change", IncidentID: in.ID,
			Entity: string(in.Kind), EntityID: in.ID, Before: before, After: after}); err != nil {
			return err
		}
		out = in
		return nil
	}()
	return out, err
}

// incidentState is what the audit log records of an incident.
func incidentState(in herald.Incident) map[string]any {
	m := map[string]any{"name": in.Name, "status": in.Status, "impact": in.Impact, "components": in.ComponentIDs,
		"notify_regulators": in.NotifyRegulators, "updates": len(in.Updates)}
	if in.DataLoss != nil {
		m["data_loss_seconds"] = int64(*in.DataLoss / time.Second)
	}
	return m
}

func (s *Store) timeline(ctx context.Context, tx *sql.Tx, incidentID, kind, actor, summary string, at time.Time) error {
	if _, err := tx.ExecContext(ctx, s.q(insertTimeline), incidentID, kind, actor, summary, at); err != nil {
		return fmt.Errorf("store: timeline: %w", err)
	}
	// Engineering hears everything in real time, in the incident's thread;
	// the messages to audiences go there through recordCommunications.
	if kind == "communication" || s.plan == nil {
		return nil
	}
	var incidentKind string
	if err := tx.QueryRowContext(ctx, s.q(`SELECT kind FROM incidents WHERE id = $1`), incidentID).Scan(&incidentKind); err != nil {
		return fmt.Errorf("store: timeline: %w", err)
	}
	if incidentKind != string(herald.KindIncident) {
		return nil
	}
	line := summary
	if actor != "" {
		line = summary + " (" + actor + ")"
	}
	return s.slackEvent(ctx, tx, incidentID, kind, line, at)
}

func (s *Store) timelineChanges(ctx context.Context, tx *sql.Tx, incidentID, actor string, changes []herald.ComponentChange, at time.Time) error {
	for _, ch := range changes {
		if err := s.timeline(ctx, tx, incidentID, "component", actor, ch.Name+": "+ch.Old.Label()+" → "+ch.New.Label(), at); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) writeIncidentComponents(ctx context.Context, tx *sql.Tx, incidentID string, ids []string, offset int) error {
	for i, cid := range ids {
		if _, err := tx.ExecContext(ctx, s.q(insertIncidentComponent), incidentID, cid, offset+i+1); err != nil {
			return fmt.Errorf("store: incident component: %w", err)
		}
	}
	return nil
}

func (s *Store) writeUpdate(ctx context.Context, tx *sql.Tx, u *herald.Update, actor string) error {
	if u.ID == "" {
		u.ID = newID()
	}
	if _, err := tx.ExecContext(ctx, s.q(insertUpdate), u.ID, u.IncidentID, u.Status, u.Body, actor, u.CreatedAt,
		u.UpdatedAt, u.DisplayAt); err != nil {
		return fmt.Errorf("store: insert update: %w", err)
	}
	for i, ch := range u.Changes {
		if _, err := tx.ExecContext(ctx, s.q(insertChange), u.ID, ch.ComponentID, i+1, ch.Old, ch.New); err != nil {
			return fmt.Errorf("store: insert component change: %w", err)
		}
		if err := s.writeStatus(ctx, tx, ch.ComponentID, ch.New, u.IncidentID, actor, u.CreatedAt); err != nil {
			return err
		}
	}
	return nil
}

// Timeline lists an incident's internal timeline, newest first; kind, when
// set, keeps one kind of event (and "update" also keeps the declaration).
func (s *Store) Timeline(ctx context.Context, incidentID, kind string) ([]herald.TimelineEvent, error) {
	query, args := `SELECT kind, actor, summary, at FROM timeline_events WHERE incident_id = $1`, []any{incidentID}
	if kind != "" {
		query += ` AND (kind = $2 OR ($2 = 'update' AND kind IN ('declared', 'reopen')))`
		args = append(args, kind)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query+` ORDER BY at DESC, id DESC`), args...)
	if err != nil {
		return nil, fmt.Errorf("store: timeline: %w", err)
	}
	defer rows.Close()
	var out []herald.TimelineEvent
	for rows.Next() {
		var e herald.TimelineEvent
		if err := rows.Scan(&e.Kind, &e.Actor, &e.Summary, &e.At); err != nil {
			return nil, fmt.Errorf("store: scan timeline: %w", err)
		}
		e.At = e.At.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
