package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/kredete/herald"
)

// owedWhere picks the incidents the clocks may still owe something, as
// IncidentsOwed does, incidents only (a maintenance has no clocks).
const owedWhere = `kind = 'incident' AND (resolved_at IS NULL OR (notify_regulators AND resolved_at > $1))`

// ClockState is what the cadence engine's clocks read on every wake, and
// no more: the owed incidents without their updates and components, the
// last message to each audience of each (without its text), and the
// regulator reports' steps and times. herald.Obligations computed from it
// equals what it computes from IncidentsOwed, Communications and
// RegulatorReports; it costs four light queries whatever the history. Each
// incident's Updates holds only its latest update's time.
func (s *Store) ClockState(ctx context.Context) ([]herald.Incident, []herald.Communication, []herald.RegulatorReport, error) {
	since := s.Now().Add(-regulatoryWindow)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, kind, name, status, impact, notify_regulators, created_at, updated_at,
		started_at, monitoring_at, resolved_at, version, regulators_at FROM incidents WHERE `+owedWhere+
		` ORDER BY created_at DESC, id`), since)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("store: clock state: %w", err)
	}
	var incidents []herald.Incident
	for rows.Next() {
		var in herald.Incident
		var mon, res, reg sql.NullTime
		if err := rows.Scan(&in.ID, &in.Kind, &in.Name, &in.Status, &in.Impact, &in.NotifyRegulators, &in.CreatedAt,
			&in.UpdatedAt, &in.StartedAt, &mon, &res, &in.Version, &reg); err != nil {
			rows.Close()
			return nil, nil, nil, fmt.Errorf("store: scan clock state: %w", err)
		}
		in.CreatedAt, in.UpdatedAt, in.StartedAt = in.CreatedAt.UTC(), in.UpdatedAt.UTC(), in.StartedAt.UTC()
		in.MonitoringAt, in.ResolvedAt, in.RegulatorsAt = timePtr(mon), timePtr(res), timePtr(reg)
		incidents = append(incidents, in)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("store: clock state: %w", err)
	}
	if len(incidents) == 0 {
		return nil, nil, nil, nil
	}

	// The last message to each audience. SQLite returns MAX() of a
	// DATETIME column as text; the bare created_at beside it is the
	// column's value on the row holding the maximum, typed as a DATETIME.
	last := `SELECT incident_id, audience, MAX(created_at) FROM communications
		WHERE incident_id IN (SELECT id FROM incidents WHERE ` + owedWhere + `) GROUP BY incident_id, audience`
	if s.dialect == SQLite {
		last = `SELECT incident_id, audience, created_at, MAX(created_at) FROM communications
		WHERE incident_id IN (SELECT id FROM incidents WHERE ` + owedWhere + `) GROUP BY incident_id, audience`
	}
	rows, err = s.db.QueryContext(ctx, s.q(last), since)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("store: clock state: communications: %w", err)
	}
	var told []herald.Communication
	for rows.Next() {
		var c herald.Communication
		dest := []any{&c.IncidentID, &c.Audience, &c.CreatedAt}
		if s.dialect == SQLite {
			dest = append(dest, new(any))
		}
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return nil, nil, nil, fmt.Errorf("store: scan clock state communication: %w", err)
		}
		c.CreatedAt = c.CreatedAt.UTC()
		told = append(told, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("store: clock state: communications: %w", err)
	}

	// The last public update of each: it is the status page audience's
	// message, however it was posted (herald.MessageTimes).
	latest := `SELECT incident_id, MAX(created_at) FROM incident_updates
		WHERE incident_id IN (SELECT id FROM incidents WHERE ` + owedWhere + `) GROUP BY incident_id`
	if s.dialect == SQLite {
		latest = `SELECT incident_id, created_at, MAX(created_at) FROM incident_updates
		WHERE incident_id IN (SELECT id FROM incidents WHERE ` + owedWhere + `) GROUP BY incident_id`
	}
	rows, err = s.db.QueryContext(ctx, s.q(latest), since)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("store: clock state: updates: %w", err)
	}
	byID := make(map[string]*herald.Incident, len(incidents))
	for i := range incidents {
		byID[incidents[i].ID] = &incidents[i]
	}
	for rows.Next() {
		var id string
		var at time.Time
		dest := []any{&id, &at}
		if s.dialect == SQLite {
			dest = append(dest, new(any))
		}
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return nil, nil, nil, fmt.Errorf("store: scan clock state update: %w", err)
		}
		if in, ok := byID[id]; ok {
			in.Updates = []herald.Update{{IncidentID: id, CreatedAt: at.UTC()}}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("store: clock state: updates: %w", err)
	}

	rows, err = s.db.QueryContext(ctx, s.q(`SELECT incident_id, step, at FROM regulator_reports
		WHERE incident_id IN (SELECT id FROM incidents WHERE `+owedWhere+`) ORDER BY at, created_at`), since)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("store: clock state: regulator reports: %w", err)
	}
	defer rows.Close()
	var reports []herald.RegulatorReport
	for rows.Next() {
		var r herald.RegulatorReport
		if err := rows.Scan(&r.IncidentID, &r.Step, &r.At); err != nil {
			return nil, nil, nil, fmt.Errorf("store: scan clock state report: %w", err)
		}
		r.At = r.At.UTC()
		reports = append(reports, r)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("store: clock state: regulator reports: %w", err)
	}
	return incidents, told, reports, nil
}
