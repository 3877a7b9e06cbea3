package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/kredete/herald"
)

const (
	insertPDEvent = `INSERT INTO pagerduty_events (id, event_type, pd_incident_id, service_id, occurred_at, payload, received_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`
	selectPDEvent = `SELECT payload, processed_at, received_at FROM pagerduty_events WHERE id = $1 FOR UPDATE`
	finishPDEvent = `UPDATE pagerduty_events SET processed_at = $2, incident_id = $3, outcome = $4 WHERE id = $1`
	selectPDLink  = `SELECT incident_id FROM pagerduty_links WHERE pd_incident_id = $1`
	insertPDLink  = `INSERT INTO pagerduty_links (incident_id, pd_incident_id, service_id, service_name, html_url, direction, status, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (pd_incident_id) DO NOTHING`
	updatePDLinkStatus = `UPDATE pagerduty_links SET status = $2 WHERE pd_incident_id = $1`
	// An open incident already linked to a PagerDuty incident on the same
	// service: a second alert on that service joins it.
	selectOpenForService = `SELECT l.incident_id FROM pagerduty_links l JOIN incidents i ON i.id = l.incident_id
		WHERE l.service_id = $1 AND i.resolved_at IS NULL AND i.drill = FALSE AND i.kind = 'incident'
		ORDER BY i.created_at DESC LIMIT 1`
	selectPDLinks = `SELECT incident_id, pd_incident_id, service_id, service_name, html_url, direction, status, created_at
		FROM pagerduty_links WHERE incident_id = $1 ORDER BY created_at`
	countPageDeliveries = `SELECT COUNT(*) FROM deliveries WHERE incident_id = $1 AND kind = $2`
	setTriage           = `UPDATE incidents SET triage = $2 WHERE id = $1`
)

// EnablePaging makes incidents at the plan's pagerduty.trigger_at page
// PagerDuty (and resolve the page): only when a PagerDuty channel exists to
// send them, so a Herald without a routing key does not queue pages that
// can only fail.
func (s *Store) EnablePaging(on bool) { s.paging = on }

// PagerDutyOrderWait is how long an event about a PagerDuty incident Herald
// has not linked waits for its trigger before it is recorded as unlinked.
const PagerDutyOrderWait = 2 * time.Minute

// PagerDutyActor is the name PagerDuty's events are recorded under.
const PagerDutyActor = "PagerDuty"

// pagerDutyArgs is the job: apply one PagerDuty webhook event.
type pagerDutyArgs struct {
	EventID string `json:"event_id"`
}

func (pagerDutyArgs) Kind() string { return "herald_pagerduty_event" }

// RecordPagerDutyEvent stores a verified webhook event and queues its
// processing, in one transaction, so the webhook is answered at once. A
// redelivered event (the same id) is not stored or processed again: it
// reports false.
func (s *Store) RecordPagerDutyEvent(ctx context.Context, ev herald.PagerDutyEvent) (bool, error) {
	payload, err := json.Marshal(ev)
	if err != nil {
		return false, fmt.Errorf("store: pagerduty event: %w", err)
	}
	fresh := false
	err = s.transact(ctx, false, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(insertPDEvent), ev.ID, ev.Type, ev.IncidentID, ev.ServiceID, ev.OccurredAt.UTC(),
			string(payload), s.Now())
		if err != nil {
			return fmt.Errorf("store: record pagerduty event: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		fresh = true
		c, err := s.inserter()
		if err != nil {
			return err
		}
		if _, err := c.InsertTx(ctx, tx, pagerDutyArgs{EventID: ev.ID}, &river.InsertOpts{Queue: deliveryQueue}); err != nil {
			return fmt.Errorf("store: queue pagerduty event: %w", err)
		}
		return nil
	})
	return fresh, err
}

// PagerDutyLinks lists the PagerDuty incidents linked to an incident.
func (s *Store) PagerDutyLinks(ctx context.Context, incidentID string) ([]herald.PagerDutyLink, error) {
	rows, err := s.db.QueryContext(ctx, s.q(selectPDLinks), incidentID)
	if err != nil {
		return nil, fmt.Errorf("store: pagerduty links: %w", err)
	}
	defer rows.Close()
	var out []herald.PagerDutyLink
	for rows.Next() {
		var l herald.PagerDutyLink
		if err := rows.Scan(&l.IncidentID, &l.PDIncidentID, &l.ServiceID, &l.ServiceName, &l.HTMLURL, &l.Direction, &l.Status, &l.CreatedAt); err != nil {
			return nil, fmt.Errorf("store: scan pagerduty link: %w", err)
		}
		l.CreatedAt = l.CreatedAt.UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

// ApplyPagerDutyEvent processes a stored webhook event once: a trigger opens
// an incident (or joins the open one on the same service, or links the
// incident Herald paged for), later events become timeline entries, and a
// resolution asks the commander to resolve (or resolves, when the plan says
// so). Everything it does is one transaction with marking the event done.
func (s *Store) ApplyPagerDutyEvent(ctx context.Context, eventID string) error {
	if s.plan == nil {
		return errors.New("store: pagerduty events need the plan (EnableDeliveries)")
	}
	return s.transact(ctx, true, func(tx *sql.Tx) error {
		// Events are applied one at a time across replicas: two alerts on
		// one service arriving together must not both miss the open
		// incident and declare two. (SQLite's writers already take turns.)
		if s.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('herald_pagerduty_events'))`); err != nil {
				return fmt.Errorf("store: pagerduty lock: %w", err)
			}
		}
		var payload string
		var processed, received sql.NullTime
		if err := tx.QueryRowContext(ctx, s.q(selectPDEvent), eventID).Scan(&payload, &processed, &received); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("store: pagerduty event %q: %w", eventID, herald.ErrNotFound)
			}
			return fmt.Errorf("store: pagerduty event: %w", err)
		}
		if processed.Valid {
			return nil
		}
		var ev herald.PagerDutyEvent
		if err := json.Unmarshal([]byte(payload), &ev); err != nil {
			return fmt.Errorf("store: pagerduty event payload: %w", err)
		}
		incidentID, outcome, err := s.applyPagerDuty(ctx, tx, ev)
		if err != nil {
			return err
		}
		if incidentID == "" && ev.Type != herald.PDTriggered && received.Valid && s.Now().Sub(received.Time) < PagerDutyOrderWait {
			// PagerDuty does not promise order: an acknowledgement or a
			// resolution may overtake its trigger. Wait for it a while
			// (nothing is stored: the transaction rolls back) before
			// recording the event as unlinked.
			return &herald.RetryLater{After: 10 * time.Second, Err: fmt.Errorf("store: pagerduty event %s: its incident is not linked yet", eventID)}
		}
		if _, err := tx.ExecContext(ctx, s.q(finishPDEvent), eventID, s.Now(), nullString(incidentID), outcome); err != nil {
			return fmt.Errorf("store: finish pagerduty event: %w", err)
		}
		return nil
	})
}

func (s *Store) applyPagerDuty(ctx context.Context, tx *sql.Tx, ev herald.PagerDutyEvent) (string, string, error) {
	pol := s.plan.PagerDuty
	var linked string
	switch err := tx.QueryRowContext(ctx, s.q(selectPDLink), ev.IncidentID).Scan(&linked); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return "", "", fmt.Errorf("store: pagerduty link: %w", err)
	}
	line := herald.PagerDutyTimeline(ev)
	if linked == "" && ev.Type == herald.PDTriggered {
		return s.pagerDutyTrigger(ctx, tx, ev, line)
	}
	if linked == "" {
		return "", "ignored: not linked to a Herald incident", nil
	}
	// An event that does not carry the status (a note names its incident
	// by reference only) leaves the last known one.
	if st := pdStatus(ev); st != "" {
		if _, err := tx.ExecContext(ctx, s.q(updatePDLinkStatus), ev.IncidentID, st); err != nil {
			return "", "", fmt.Errorf("store: pagerduty link status: %w", err)
		}
	}
	if line == "" {
		return linked, "ignored: " + ev.Type + " is not recorded", nil
	}
	switch ev.Type {
	case herald.PDResolved:
		in, err := s.changeIncident(ctx, tx, linked, 0, PagerDutyActor, func(tx *sql.Tx, in *herald.Incident, comps map[string]herald.Component, now time.Time) error {
			if !in.Open() {
				return s.timeline(ctx, tx, in.ID, "pagerduty", PagerDutyActor, line, now)
			}
			if pol.AutoResolve {
				up, err := in.Apply(herald.UpdateInput{Status: herald.Resolved, Body: s.templateBody(*in, herald.Resolved, comps)}, comps, now)
				if err != nil {
					return err
				}
				if err := s.timeline(ctx, tx, in.ID, "pagerduty", PagerDutyActor, line+": resolved here too (auto_resolve)", now); err != nil {
					return err
				}
				return s.storeUpdate(ctx, tx, in, &up, PagerDutyActor, now)
			}
			at := ev.OccurredAt.UTC().Truncate(time.Microsecond) // as every stored time, on both databases
			in.PagerDutyResolvedAt = &at
			return s.timeline(ctx, tx, in.ID, "pagerduty", PagerDutyActor,
				line+". The commander decides when Herald's incident is resolved: resolve it in the console once service is restored", now)
		})
		if err != nil {
			return "", "", err
		}
		if pol.AutoResolve && !in.Open() {
			return linked, "resolved", nil
		}
		return linked, "commander asked to resolve", nil
	case herald.PDReopened:
		_, err := s.changeIncident(ctx, tx, linked, 0, PagerDutyActor, func(tx *sql.Tx, in *herald.Incident, _ map[string]herald.Component, now time.Time) error {
			in.PagerDutyResolvedAt = nil
			return s.timeline(ctx, tx, in.ID, "pagerduty", PagerDutyActor, line, now)
		})
		return linked, "recorded", err
	}
	if err := s.timeline(ctx, tx, linked, "pagerduty", PagerDutyActor, line, s.Now()); err != nil {
		return "", "", err
	}
	return linked, "recorded", nil
}

func pdStatus(ev herald.PagerDutyEvent) string {
	if ev.Status != "" {
		return ev.Status
	}
	switch ev.Type {
	case herald.PDTriggered, herald.PDReopened, herald.PDUnacknowledged:
		return "triggered"
	case herald.PDAcknowledged:
		return "acknowledged"
	case herald.PDResolved:
		return "resolved"
	}
	return ""
}

// pagerDutyTrigger handles a trigger not yet linked: the incident Herald
// paged for (its dedup key is Herald's incident id), else the open incident
// on the same service, else a new incident.
func (s *Store) pagerDutyTrigger(ctx context.Context, tx *sql.Tx, ev herald.PagerDutyEvent, line string) (string, string, error) {
	pol := s.plan.PagerDuty
	now := s.Now()
	link := func(incidentID, direction string) error {
		_, err := tx.ExecContext(ctx, s.q(insertPDLink), incidentID, ev.IncidentID, ev.ServiceID, ev.ServiceName, ev.HTMLURL,
			direction, pdStatus(ev), now)
		if err != nil {
			return fmt.Errorf("store: link pagerduty incident: %w", err)
		}
		return nil
	}
	if ev.IncidentKey != "" {
		var id string
		switch err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM incidents WHERE id = $1`), ev.IncidentKey).Scan(&id); {
		case err == nil:
			if err := link(id, "out"); err != nil {
				return "", "", err
			}
			ref := "PagerDuty incident " + ev.IncidentID
			if ev.Number > 0 {
				ref = fmt.Sprintf("PagerDuty #%d", ev.Number)
			}
			return id, "linked to the incident Herald paged for", s.timeline(ctx, tx, id, "pagerduty", PagerDutyActor,
				ref+" opened for this incident (paged by Herald)", now)
		case !errors.Is(err, sql.ErrNoRows):
			return "", "", fmt.Errorf("store: pagerduty dedup key: %w", err)
		}
	}
	var open string
	switch err := tx.QueryRowContext(ctx, s.q(selectOpenForService), ev.ServiceID).Scan(&open); {
	case err == nil:
		if err := link(open, "in"); err != nil {
			return "", "", err
		}
		return open, "joined the open incident on the same service", s.timeline(ctx, tx, open, "pagerduty", PagerDutyActor,
			line+" (joined this incident: same service)", now)
	case !errors.Is(err, sql.ErrNoRows):
		return "", "", fmt.Errorf("store: open incident for service: %w", err)
	}

	svc, known := pol.Service(ev.ServiceID)
	keys := svc.Components
	triage := ""
	if !known {
		keys = pol.DefaultComponents
		name := ev.ServiceName
		if name == "" {
			name = "an unnamed service"
		}
		triage = fmt.Sprintf("PagerDuty service %s (%s) is not mapped in the configuration: the affected components were defaulted; check them",
			name, ev.ServiceID)
	}
	impact := pol.ImpactFor(svc, ev.Priority, ev.Urgency)
	comps, err := s.componentMap(ctx, tx)
	if err != nil {
		return "", "", err
	}
	var targets []herald.ComponentTarget
	var names []string
	for _, k := range keys {
		for _, c := range comps {
			if c.Key == k {
				targets = append(targets, herald.ComponentTarget{ComponentID: c.ID, Status: herald.ComponentStatusFor(impact)})
				names = append(names, c.Name)
			}
		}
	}
	title := strings.TrimSpace(ev.Title)
	if title == "" {
		title = "PagerDuty alert on " + ev.ServiceName
	}
	if r := []rune(title); len(r) > herald.MaxNameLen {
		title = string(r[:herald.MaxNameLen])
	}
	body := herald.Fill(herald.TemplateBody(s.plan.Templates, herald.Investigating), title, strings.Join(names, ", "), "")
	body = strings.TrimSpace(strings.TrimSuffix(body, "Next update by ."))
	d := herald.Declaration{Name: title, Impact: impact, Body: body, Components: targets}
	in, err := s.declareTx(ctx, tx, d, PagerDutyActor, func(tx *sql.Tx, in *herald.Incident, now time.Time) error {
		if err := link(in.ID, "in"); err != nil {
			return err
		}
		if err := s.timeline(ctx, tx, in.ID, "pagerduty", PagerDutyActor, line, now); err != nil {
			return err
		}
		if triage != "" {
			if _, err := tx.ExecContext(ctx, s.q(setTriage), in.ID, triage); err != nil {
				return fmt.Errorf("store: triage: %w", err)
			}
			in.Triage = triage
			if err := s.timeline(ctx, tx, in.ID, "pagerduty", PagerDutyActor, "Needs triage: "+triage, now); err != nil {
				return err
			}
		}
		if err := s.recordCommunications(ctx, tx, in.ID, in.Updates[0].ID, s.plan.DeclareAudiences(), func(string) string { return body },
			PagerDutyActor, now); err != nil {
			return err
		}
		// Rules: a trigger on this service starts the procedures it names.
		for _, ref := range svc.Starts {
			kind, key, _ := herald.ParseProcedureRef(ref)
			p, ok := s.plan.Procedure(kind, key)
			if !ok {
				continue
			}
			a, err := herald.RequestAction(p, *in, herald.ActionRequest{Kind: kind, Key: key,
				Reason: "PagerDuty alert on " + orName(ev.ServiceName, ev.ServiceID), Rule: "pagerduty:" + ev.ServiceID}, herald.User{}, now)
			if err != nil {
				return err
			}
			if err := s.insertAction(ctx, tx, &a, herald.EngineActor, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", "", err
	}
	return in.ID, "opened a new incident", nil
}

func orName(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

func (s *Store) templateBody(in herald.Incident, st herald.Status, comps map[string]herald.Component) string {
	var names []string
	for _, id := range in.ComponentIDs {
		names = append(names, comps[id].Name)
	}
	body := herald.Fill(herald.TemplateBody(s.plan.Templates, st), in.Name, strings.Join(names, ", "), "")
	if body == "" {
		body = "This incident has been resolved."
	}
	return body
}

// pagerDutyOut pages PagerDuty for an incident that reached the plan's
// trigger_at impact (declared there, raised there, or reopened there) and
// resolves the page when the incident resolves. Incidents that came from
// PagerDuty are not paged back. prev is nil for a declaration.
func (s *Store) pagerDutyOut(ctx context.Context, tx *sql.Tx, prev *herald.Incident, in herald.Incident, now time.Time) error {
	if s.plan == nil || !s.paging || s.plan.PagerDuty.TriggerAt == "" {
		return nil
	}
	pol := s.plan.PagerDuty
	count := func(kind herald.DeliveryKind) (int, error) {
		var n int
		if err := tx.QueryRowContext(ctx, s.q(countPageDeliveries), in.ID, kind).Scan(&n); err != nil {
			return 0, fmt.Errorf("store: pagerduty deliveries: %w", err)
		}
		return n, nil
	}
	pagesNow := pol.Pages(in) && in.Open()
	pagedBefore := prev != nil && pol.Pages(*prev) && prev.Open()
	switch {
	case pagesNow && !pagedBefore:
		var fromPD int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM pagerduty_links WHERE incident_id = $1 AND direction = 'in'`),
			in.ID).Scan(&fromPD); err != nil {
			return fmt.Errorf("store: pagerduty links: %w", err)
		}
		if fromPD > 0 {
			return nil
		}
		n, err := count(herald.KindPageTrigger)
		if err != nil {
			return err
		}
		body := ""
		if len(in.Updates) > 0 {
			body = in.Updates[0].Body
		}
		d := herald.Delivery{Channel: herald.ChannelPagerDuty, Kind: herald.KindPageTrigger, Recipient: "events-v2",
			Subject: fmt.Sprintf("[%s] %s", in.Impact.Label(), in.Name), Body: body,
			Key: fmt.Sprintf("%s/pagerduty/trigger/%d", in.ID, n+1)}
		_, err = s.writeDeliveries(ctx, tx, in.ID, "", []herald.Delivery{d}, now)
		return err
	case prev != nil && prev.Open() && !in.Open():
		triggers, err := count(herald.KindPageTrigger)
		if err != nil || triggers == 0 {
			return err
		}
		n, err := count(herald.KindPageResolve)
		if err != nil {
			return err
		}
		d := herald.Delivery{Channel: herald.ChannelPagerDuty, Kind: herald.KindPageResolve, Recipient: "events-v2",
			Subject: "Resolved: " + in.Name, Key: fmt.Sprintf("%s/pagerduty/resolve/%d", in.ID, n+1)}
		_, err = s.writeDeliveries(ctx, tx, in.ID, "", []herald.Delivery{d}, now)
		return err
	}
	return nil
}

// PagerDutyEventOutcome reports whether an event was received and what its
// processing did ("" until it is processed).
func (s *Store) PagerDutyEventOutcome(ctx context.Context, id string) (received bool, outcome string, err error) {
	err = s.db.QueryRowContext(ctx, s.q(`SELECT outcome FROM pagerduty_events WHERE id = $1`), id).Scan(&outcome)
	if errors.Is(err, sql.ErrNoRows) {
		return false, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("store: pagerduty event: %w", err)
	}
	return true, outcome, nil
}
