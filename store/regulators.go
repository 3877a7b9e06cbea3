package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/kredete/herald"
)

const reportColumns = `id, incident_id, step, called_by, whom, at, reference, notes, recorded_by, created_at`

// RecordRegulatorReport records a call to the regulator (or a report
// filed): it satisfies the step of the incident's regulatory clock. The
// report is validated against the plan's regulator audience; a call
// recorded after its due time is kept as a missed deadline in the timeline.
func (s *Store) RecordRegulatorReport(ctx context.Context, r herald.RegulatorReport, plan herald.Plan, actor string) (herald.RegulatorReport, error) {
	now := s.Now()
	r.At = r.At.UTC().Truncate(time.Microsecond) // what PostgreSQL keeps, on both stores
	err := s.transact(ctx, true, func(tx *sql.Tx) error {
		ins, err := s.loadIncidents(ctx, tx, `id = $1`, r.IncidentID)
		if err != nil {
			return err
		}
		if len(ins) == 0 {
			return fmt.Errorf("incident %s: %w", r.IncidentID, herald.ErrNotFound)
		}
		in := ins[0]
		reports, err := s.regulatorReports(ctx, tx, []string{in.ID})
		if err != nil {
			return err
		}
		ob, err := herald.CheckRegulatorReport(plan, in, reports, r, now)
		if err != nil {
			return err
		}
		r.ID, r.RecordedBy, r.CreatedAt, r.Step = newID(), actor, now, ob.Step
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO regulator_reports (`+reportColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`),
			r.ID, r.IncidentID, r.Step, r.CalledBy, r.Whom, r.At, r.Reference, r.Notes, r.RecordedBy, r.CreatedAt); err != nil {
			return fmt.Errorf("store: record regulator report: %w", err)
		}
		summary := fmt.Sprintf("Regulator %s made by %s to %s", herald.StepLabel(r.Step), r.CalledBy, r.Whom)
		if r.Reference != "" {
			summary += ", reference " + r.Reference
		}
		if r.At.After(ob.Due) {
			summary += fmt.Sprintf(" (deadline missed by %s)", herald.RoundDuration(r.At.Sub(ob.Due)))
		}
		if err := s.timeline(ctx, tx, in.ID, "regulator", actor, summary, now); err != nil {
			return err
		}
		return s.audit(ctx, tx, auditRecord{Actor: actor, Action: "regulator.report", IncidentID: in.ID,
			Entity: "regulator_report", EntityID: r.ID, After: map[string]any{"step": r.Step, "called_by": r.CalledBy,
				"whom": r.Whom, "at": r.At, "reference": r.Reference, "notes": r.Notes}})
	})
	if err != nil {
		return herald.RegulatorReport{}, err
	}
	return r, nil
}

// FlagRegulators marks an incident as needing regulator notification: the
// regulatory clock starts now (the classification). reason goes to the
// timeline, e.g. "critical impact" or "marked in the console".
func (s *Store) FlagRegulators(ctx context.Context, id string, version int, reason, actor string) (herald.Incident, error) {
	return s.withIncident(ctx, id, version, actor, func(tx *sql.Tx, in *herald.Incident, _ map[string]herald.Component, now time.Time) error {
		if err := in.FlagRegulators(now); err != nil {
			return err
		}
		in.UpdatedAt = now
		return s.timeline(ctx, tx, in.ID, "regulator", actor, "Marked as needing regulator notification ("+reason+"): the regulatory clock starts", now)
	})
}

// RegulatorReports lists the regulator reports of the given incidents, in
// the order they were made.
func (s *Store) RegulatorReports(ctx context.Context, incidentIDs []string) ([]herald.RegulatorReport, error) {
	return s.regulatorReports(ctx, s.db, incidentIDs)
}

func (s *Store) regulatorReports(ctx context.Context, db querier, incidentIDs []string) ([]herald.RegulatorReport, error) {
	if len(incidentIDs) == 0 {
		return nil, nil
	}
	in, args := inList(incidentIDs)
	rows, err := db.QueryContext(ctx, s.q(`SELECT `+reportColumns+` FROM regulator_reports WHERE incident_id IN (`+in+`) ORDER BY at, created_at`), args...)
	if err != nil {
		return nil, fmt.Errorf("store: regulator reports: %w", err)
	}
	defer rows.Close()
	var out []herald.RegulatorReport
	for rows.Next() {
		var r herald.RegulatorReport
		if err := rows.Scan(&r.ID, &r.IncidentID, &r.Step, &r.CalledBy, &r.Whom, &r.At, &r.Reference, &r.Notes,
			&r.RecordedBy, &r.CreatedAt); err != nil {
			return nil, fmt.Errorf("store: scan regulator report: %w", err)
		}
		r.At, r.CreatedAt = r.At.UTC(), r.CreatedAt.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// regulatoryWindow bounds how long after resolution an incident's
// regulatory clock is still kept: DORA's final report falls a month after
// the intermediate one, itself 72 hours after the initial notification.
const regulatoryWindow = 60 * 24 * time.Hour

// IncidentsOwed lists the incidents the plan's clocks may still owe
// something: every open incident and maintenance, and the resolved
// incidents flagged for regulators within the regulatory window (their
// intermediate and final reports come due after resolution).
func (s *Store) IncidentsOwed(ctx context.Context) ([]herald.Incident, error) {
	return s.loadIncidents(ctx, s.db, `resolved_at IS NULL OR (notify_regulators AND resolved_at > $1)`,
		s.Now().Add(-regulatoryWindow))
}

// inList is the placeholders and arguments of an IN (...) list of ids.
func inList(ids []string) (string, []any) {
	ph := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		ph[i] = fmt.Sprintf("$%d", i+1)
		args[i] = id
	}
	return strings.Join(ph, ", "), args
}
