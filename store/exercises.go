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
	exerciseColumns = `id, kind, name, run_at, rto_seconds, rpo_seconds, passed, notes, COALESCE(incident_id, ''), recorded_by,
		COALESCE(seed_key, ''), created_at`
	// insertExercise skips a seeded result already in the log: seed_key is
	// unique, and NULL (a recorded run) never conflicts.
	insertExercise = `INSERT INTO exercises (id, kind, name, run_at, rto_seconds, rpo_seconds, passed, notes, incident_id,
		recorded_by, seed_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (seed_key) DO NOTHING`
	selectExercises     = `SELECT ` + exerciseColumns + ` FROM exercises ORDER BY run_at DESC, created_at DESC, id`
	selectSeedKeys      = `SELECT seed_key FROM exercises WHERE seed_key IS NOT NULL`
	countDrillExercises = `SELECT COUNT(*) FROM exercises WHERE incident_id = $1`
	selectDrill         = `SELECT drill FROM incidents WHERE id = $1`
)

// SeedExercises adds the plan's results to the exercise log, each once:
// a result already seeded (by an earlier start or another replica) is
// skipped, so calling it at every start changes nothing after the first.
func (s *Store) SeedExercises(ctx context.Context, results []herald.ExerciseResult) error {
	have := map[string]bool{}
	rows, err := s.db.QueryContext(ctx, selectSeedKeys)
	if err != nil {
		return fmt.Errorf("store: seeded exercises: %w", err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return fmt.Errorf("store: scan seeded exercise: %w", err)
		}
		have[k] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: seeded exercises: %w", err)
	}
	var missing []herald.Exercise
	for _, r := range results {
		if !have[r.SeedKey()] {
			missing = append(missing, r.Exercise())
		}
	}
	if len(missing) == 0 {
		return nil // nothing to write: no version bump at every start
	}
	return s.transact(ctx, true, func(tx *sql.Tx) error {
		now := s.Now()
		for _, e := range missing {
			e.ID, e.CreatedAt = newID(), now
			ok, err := s.insertExercise(ctx, tx, e)
			if err != nil || !ok {
				return err
			}
			if err := s.audit(ctx, tx, auditRecord{Actor: e.RecordedBy, Action: "exercise.seed", Entity: "exercise",
				EntityID: e.ID, After: exerciseState(e)}); err != nil {
				return err
			}
		}
		return nil
	})
}

// RecordExercise adds a run to the exercise log, validated against the
// plan's schedule (herald.CheckExercise). A run linked to an incident must
// be of a resolved drill with no exercise recorded yet; the drill's
// timeline says it was recorded.
func (s *Store) RecordExercise(ctx context.Context, e herald.Exercise, plan herald.Plan, actor string) (herald.Exercise, error) {
	err := s.transact(ctx, true, func(tx *sql.Tx) error {
		now := s.Now()
		checked, err := herald.CheckExercise(plan.Exercises, e, now)
		if err != nil {
			return err
		}
		e = checked
		e.ID, e.RecordedBy, e.CreatedAt, e.SeedKey = newID(), actor, now, ""
		e.RunAt = e.RunAt.UTC().Truncate(time.Microsecond) // what PostgreSQL keeps, on both stores
		if e.IncidentID != "" {
			if err := s.checkDrill(ctx, tx, e.IncidentID); err != nil {
				return err
			}
		}
		if _, err := s.insertExercise(ctx, tx, e); err != nil {
			return err
		}
		if e.IncidentID != "" {
			if err := s.timeline(ctx, tx, e.IncidentID, "exercise", actor, "Recorded as a DR exercise: "+exerciseSummary(e), now); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, auditRecord{Actor: actor, Action: "exercise.record", IncidentID: e.IncidentID,
			Entity: "exercise", EntityID: e.ID, After: exerciseState(e)})
	})
	if err != nil {
		return herald.Exercise{}, err
	}
	return e, nil
}

// checkDrill refuses to link an exercise to anything but a resolved drill
// that has none yet.
func (s *Store) checkDrill(ctx context.Context, tx *sql.Tx, incidentID string) error {
	ins, err := s.loadIncidents(ctx, tx, `id = $1`, incidentID)
	if err != nil {
		return err
	}
	problem := ""
	switch {
	case len(ins) == 0:
		problem = fmt.Sprintf("there is no incident %q", incidentID)
	case !ins[0].Drill:
		problem = "only a drill incident can be recorded as an exercise"
	case ins[0].Open():
		problem = "the drill is still open: resolve it first, so its RTO is known"
	}
	if problem == "" {
		var n int
		if err := tx.QueryRowContext(ctx, s.q(countDrillExercises), incidentID).Scan(&n); err != nil {
			return fmt.Errorf("store: drill exercises: %w", err)
		}
		if n > 0 {
			problem = "an exercise is already recorded for this drill"
		}
	}
	if problem != "" {
		return &herald.ValidationError{Field: "incident_id", Problem: problem}
	}
	return nil
}

func (s *Store) insertExercise(ctx context.Context, tx *sql.Tx, e herald.Exercise) (bool, error) {
	secs := func(d *time.Duration) any {
		if d == nil {
			return nil
		}
		return int64(*d / time.Second)
	}
	var passed any
	if e.Passed != nil {
		passed = *e.Passed
	}
	res, err := tx.ExecContext(ctx, s.q(insertExercise), e.ID, e.Kind, e.Name, e.RunAt.UTC(), secs(e.RTO), secs(e.RPO),
		passed, e.Notes, nullString(e.IncidentID), e.RecordedBy, nullString(e.SeedKey), e.CreatedAt)
	if err != nil {
		return false, fmt.Errorf("store: insert exercise: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: insert exercise: %w", err)
	}
	return n == 1, nil
}

// Exercises lists the exercise log, newest run first.
func (s *Store) Exercises(ctx context.Context) ([]herald.Exercise, error) {
	rows, err := s.db.QueryContext(ctx, selectExercises)
	if err != nil {
		return nil, fmt.Errorf("store: exercises: %w", err)
	}
	defer rows.Close()
	var out []herald.Exercise
	for rows.Next() {
		var e herald.Exercise
		var rto, rpo sql.NullInt64
		var passed sql.NullBool
		if err := rows.Scan(&e.ID, &e.Kind, &e.Name, &e.RunAt, &rto, &rpo, &passed, &e.Notes, &e.IncidentID,
			&e.RecordedBy, &e.SeedKey, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("store: scan exercise: %w", err)
		}
		e.RunAt, e.CreatedAt = e.RunAt.UTC(), e.CreatedAt.UTC()
		e.RTO, e.RPO = secondsPtr(rto), secondsPtr(rpo)
		if passed.Valid {
			p := passed.Bool
			e.Passed = &p
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: exercises: %w", err)
	}
	return out, nil
}

func secondsPtr(n sql.NullInt64) *time.Duration {
	if !n.Valid {
		return nil
	}
	d := time.Duration(n.Int64) * time.Second
	return &d
}

// isDrill reports whether the incident is a drill: its messages then carry
// herald.DrillMarker.
func (s *Store) isDrill(ctx context.Context, tx *sql.Tx, incidentID string) (bool, error) {
	var drill bool
	err := tx.QueryRowContext(ctx, s.q(selectDrill), incidentID).Scan(&drill)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: drill: %w", err)
	}
	return drill, nil
}

// exerciseState is what the audit log records of an exercise.
func exerciseState(e herald.Exercise) map[string]any {
	m := map[string]any{"kind": e.Kind, "name": e.Name, "run_at": e.RunAt, "notes": e.Notes}
	if e.RTO != nil {
		m["rto_seconds"] = int64(*e.RTO / time.Second)
	}
	if e.RPO != nil {
		m["rpo_seconds"] = int64(*e.RPO / time.Second)
	}
	if e.Passed != nil {
		m["passed"] = *e.Passed
	}
	if e.IncidentID != "" {
		m["incident_id"] = e.IncidentID
	}
	if e.SeedKey != "" {
		m["seed_key"] = e.SeedKey
	}
	return m
}

// exerciseSummary is the timeline's line: "passed, RTO 45 min, RPO 0s".
func exerciseSummary(e herald.Exercise) string {
	out := e.Name + ", "
	switch {
	case e.Passed == nil:
	case *e.Passed:
		out += "passed"
	default:
		out += "failed"
	}
	if e.RTO != nil {
		out += ", RTO " + herald.RoundDuration(*e.RTO)
	}
	if e.RPO != nil {
		out += ", RPO " + herald.RoundDuration(*e.RPO)
	}
	return out
}
