package main

import (
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/kredete/herald/config"
	"github.com/kredete/herald/store"
	"github.com/kredete/herald/store/storetest"
)

// TestBootstrapAdminReplicasTogether: replicas started at once (a
// Kubernetes Deployment, the compose file) each find no users and try to
// create the first admin; one does, and the others start all the same
// rather than exit on the duplicate.
func TestBootstrapAdminReplicasTogether(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			st := storetest.Open(t, dialect, store.Options{})
			cfg := config.Config{AdminEmail: "admin@example.com", AdminPassword: "herald-dev-password"}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			const replicas = 3
			errs := make([]error, replicas)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range replicas {
				wg.Go(func() {
					<-start
					errs[i] = bootstrapAdmin(t.Context(), st, cfg, log)
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("replica %d: %v", i, err)
				}
			}
			if n, err := st.CountUsers(t.Context()); err != nil || n != 1 {
				t.Errorf("%d users (%v), want the one admin", n, err)
			}
		})
	}
}
