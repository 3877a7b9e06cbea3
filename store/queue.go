package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/kredete/herald"
)

// River is Herald's job queue: a delivery row and its job are written in
// the same transaction as their cause, and River's workers claim each job
// once across every replica (SELECT ... FOR UPDATE SKIP LOCKED on
// PostgreSQL, LISTEN/NOTIFY to wake at once). River was chosen over a
// hand-written outbox poller for its claim, retry, rescue of stuck jobs and
// leader-elected maintenance, proven on both of Herald's databases.

const deliveryQueue = "deliveries"

// deliveryArgs is the job: send one delivery row.
type deliveryArgs struct {
	DeliveryID string `json:"delivery_id"`
}

func (deliveryArgs) Kind() string { return "herald_delivery" }

// DeliverFunc sends one delivery. It returns nil when the delivery reached a
// final state (sent, failed after the last attempt, skipped), a
// *herald.RetryLater to be tried again after a given wait, or another error
// to be retried with exponential backoff and jitter.
type DeliverFunc func(ctx context.Context, deliveryID string) error

// QueueOptions tunes the workers.
type QueueOptions struct {
	Workers int // concurrent deliveries per process; 25 when 0
	// SubscriberWorkers bounds the concurrent subscriber deliveries (and
	// fan-outs) per process, apart from the plan's messages; 10 when 0.
	SubscriberWorkers int
	PollInterval      time.Duration // how often to look for work without a notification; 1s when 0
	JobTimeout        time.Duration // one attempt's limit; 60s when 0
	RescueAfter       time.Duration // a job held this long by a vanished process is retried; 2m when 0
	Logger            *slog.Logger
}

// maxJobAttempts is River's bound on one delivery job's failed runs. The
// engine gives up on a delivery first, by its own bound (tries and
// HERALD_DELIVERY_RETRY_FOR), and says so; River's bound only ends a job
// that keeps failing outside the engine's reach, such as the database away
// for days (at one run a minute, BackoffCap, 10,000 runs last a week).
const maxJobAttempts = 10_000

// BackoffCap is the longest wait between two tries of a delivery: after an
// outage of any length, each waiting message goes out within this much of
// the vendor's return.
const BackoffCap = time.Minute

func (s *Store) riverDriver() riverdriver.Driver[*sql.Tx] {
	if s.dialect == Postgres {
		return riverdatabasesql.NewWithPgxListener(s.db, s.pool)
	}
	return riversqlite.New(s.db)
}

// inserter is the River client used to insert jobs inside the store's
// transactions; StartQueue replaces it with a working client.
func (s *Store) inserter() (*river.Client[*sql.Tx], error) {
	s.riverMu.Lock()
	defer s.riverMu.Unlock()
	if s.river != nil {
		return s.river, nil
	}
	c, err := river.NewClient(s.riverDriver(), &river.Config{Logger: quietLogger()})
	if err != nil {
		return nil, fmt.Errorf("store: job queue: %w", err)
	}
	s.river = c
	return c, nil
}

// Queue runs the delivery workers of one process.
type Queue struct {
	client *river.Client[*sql.Tx]
}

// StartQueue starts the delivery workers: each queued delivery is handed
// to deliver exactly once at a time, retried with backoff until it reports a
// final state or the attempts run out.
func (s *Store) StartQueue(ctx context.Context, deliver DeliverFunc, o QueueOptions) (*Queue, error) {
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &deliveryWorker{deliver: deliver}); err != nil {
		return nil, fmt.Errorf("store: job queue: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &pagerDutyWorker{apply: s.ApplyPagerDutyEvent}); err != nil {
		return nil, fmt.Errorf("store: job queue: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &fanoutWorker{s: s, pageSize: 1000, ahead: 1000}); err != nil {
		return nil, fmt.Errorf("store: job queue: %w", err)
	}
	if o.SubscriberWorkers == 0 {
		o.SubscriberWorkers = 10
	}
	if o.Workers == 0 {
		o.Workers = 25 // mostly waiting on vendors: 50 emails and 50 texts go out in parallel
	}
	if o.PollInterval == 0 {
		o.PollInterval = time.Second
	}
	if o.JobTimeout == 0 {
		o.JobTimeout = time.Minute
	}
	if o.RescueAfter == 0 {
		o.RescueAfter = 2 * time.Minute
	}
	logger := o.Logger
	if logger == nil {
		logger = quietLogger()
	}
	c, err := river.NewClient(s.riverDriver(), &river.Config{
		Queues: map[string]river.QueueConfig{deliveryQueue: {MaxWorkers: o.Workers},
			subscriberQueue: {MaxWorkers: o.SubscriberWorkers}},
		Workers:              workers,
		FetchPollInterval:    o.PollInterval,
		FetchCooldown:        min(100*time.Millisecond, o.PollInterval),
		JobTimeout:           o.JobTimeout,
		RescueStuckJobsAfter: o.RescueAfter,
		MaxAttempts:          maxJobAttempts, // the engine gives up first, and says so
		// River's SQLite driver emulates LISTEN by querying its
		// river_notification table every 50 ms, most of an idle SQLite
		// server's CPU (scripts/engine-bench.sh); SQLite serves one process,
		// so its fetch poll (PollInterval) alone finds the work.
		PollOnly: s.dialect == SQLite,
		Logger:   logger,
	})
	if err != nil {
		return nil, fmt.Errorf("store: job queue: %w", err)
	}
	if err := c.Start(ctx); err != nil {
		return nil, fmt.Errorf("store: start job queue: %w", err)
	}
	s.riverMu.Lock()
	s.river = c
	s.riverMu.Unlock()
	return &Queue{client: c}, nil
}

// Stop finishes the deliveries in flight and stops taking new ones.
func (q *Queue) Stop(ctx context.Context) error { return q.client.Stop(ctx) }

// StopAndCancel cancels the deliveries in flight (each records its attempt
// as interrupted, for the next process to finish) and stops.
func (q *Queue) StopAndCancel(ctx context.Context) error { return q.client.StopAndCancel(ctx) }

// Stopped is closed when the queue has stopped.
func (q *Queue) Stopped() <-chan struct{} { return q.client.Stopped() }

type deliveryWorker struct {
	river.WorkerDefaults[deliveryArgs]
	deliver DeliverFunc
}

func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[deliveryArgs]) error {
	err := w.deliver(ctx, job.Args.DeliveryID)
	var later *herald.RetryLater
	if errors.As(err, &later) && later.After > 0 {
		return river.JobSnooze(later.After)
	}
	return err
}

// pagerDutyWorker applies one PagerDuty webhook event.
type pagerDutyWorker struct {
	river.WorkerDefaults[pagerDutyArgs]
	apply func(ctx context.Context, eventID string) error
}

func (w *pagerDutyWorker) Work(ctx context.Context, job *river.Job[pagerDutyArgs]) error {
	err := w.apply(ctx, job.Args.EventID)
	var later *herald.RetryLater
	if errors.As(err, &later) && later.After > 0 {
		return river.JobSnooze(later.After)
	}
	return err
}

// NextRetry is exponential backoff with jitter: about 1s, 2s, 4s ... capped
// at BackoffCap, each drawn from the upper half of its range so replicas
// retrying the same vendor spread out.
func (w *deliveryWorker) NextRetry(job *river.Job[deliveryArgs]) time.Time {
	return time.Now().Add(Backoff(job.Attempt))
}

// Backoff is the wait before retry number attempt (1-based).
func Backoff(attempt int) time.Duration {
	d := time.Second << min(max(attempt-1, 0), 9)
	d = min(d, BackoffCap)
	return d/2 + rand.N(d/2+1)
}

// migrateQueue applies River's own migrations.
func (s *Store) migrateQueue(ctx context.Context) error {
	m, err := rivermigrate.New(s.riverDriver(), &rivermigrate.Config{Logger: quietLogger()})
	if err != nil {
		return fmt.Errorf("store: job queue migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("store: migrate job queue: %w", err)
	}
	return nil
}

// queueCurrent reports whether River's migrations are applied.
func (s *Store) queueCurrent(ctx context.Context) (bool, error) {
	m, err := rivermigrate.New(s.riverDriver(), &rivermigrate.Config{Logger: quietLogger()})
	if err != nil {
		return false, fmt.Errorf("store: job queue migrations: %w", err)
	}
	res, err := m.Validate(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("store: check job queue schema: %w", err)
	}
	return res.OK, nil
}

// enqueue inserts the jobs for newly written deliveries inside tx.
func (s *Store) enqueue(ctx context.Context, tx *sql.Tx, ids []string) error {
	return s.enqueueIn(ctx, tx, ids, deliveryQueue, 0)
}

// enqueueIn inserts delivery jobs into a queue inside tx, at a River
// priority (1, the default when 0, goes first; 4 last).
func (s *Store) enqueueIn(ctx context.Context, tx *sql.Tx, ids []string, queue string, priority int) error {
	if len(ids) == 0 {
		return nil
	}
	c, err := s.inserter()
	if err != nil {
		return err
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: deliveryArgs{DeliveryID: id}, InsertOpts: &river.InsertOpts{Queue: queue, Priority: priority}}
	}
	if _, err := c.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("store: enqueue deliveries: %w", err)
	}
	return nil
}

func quietLogger() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// QueueJobs is how many of one queue's jobs are in one state.
type QueueJobs struct {
	Queue string // "deliveries" (the plan's messages, PagerDuty's events) or "subscribers"
	State string // River's: available, scheduled, running or retryable
	Jobs  int
}

// queueStates are the states of the unfinished jobs QueueDepth counts, in
// the order it lists them.
var queueStates = []string{"available", "scheduled", "running", "retryable"}

// queueDepth counts River's unfinished jobs over River's own fetch index
// (state, queue, ...). Finished jobs (completed, cancelled, discarded)
// are not read.
const queueDepth = `SELECT queue, state, COUNT(*) FROM river_job
	WHERE state IN ('available', 'scheduled', 'running', 'retryable') GROUP BY queue, state`

// QueueDepth counts the unfinished jobs of each queue by state, for the
// metrics: Herald's two queues in every state (zeros included, so a series
// never vanishes), then any other queue found, sorted.
func (s *Store) QueueDepth(ctx context.Context) ([]QueueJobs, error) {
	rows, err := s.db.QueryContext(ctx, queueDepth)
	if err != nil {
		return nil, fmt.Errorf("store: queue depth: %w", err)
	}
	defer rows.Close()
	counts := map[[2]string]int{}
	queues := []string{deliveryQueue, subscriberQueue}
	for rows.Next() {
		var queue, state string
		var n int
		if err := rows.Scan(&queue, &state, &n); err != nil {
			return nil, fmt.Errorf("store: scan queue depth: %w", err)
		}
		counts[[2]string{queue, state}] = n
		if !slices.Contains(queues, queue) {
			queues = append(queues, queue)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: queue depth: %w", err)
	}
	slices.Sort(queues[2:])
	out := make([]QueueJobs, 0, len(queues)*len(queueStates))
	for _, q := range queues {
		for _, st := range queueStates {
			out = append(out, QueueJobs{Queue: q, State: st, Jobs: counts[[2]string{q, st}]})
		}
	}
	return out, nil
}
