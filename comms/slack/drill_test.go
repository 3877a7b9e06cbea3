package slack_test

import (
	"strings"
	"testing"
)

// TestDrillParent: a drill's thread parent says [DRILL] in its header and
// its notification text, as every reply about it does.
func TestDrillParent(t *testing.T) {
	srv, c, ch := setup(t)
	in := incident()
	in.Name, in.Drill = "DR exercise: Failover Test", true
	r, err := c.PostIncident(t.Context(), ch, in, components(), "Thandi Nkosi")
	if err != nil {
		t.Fatal(err)
	}
	m, ok := srv.Message(ch, r.ProviderID)
	if !ok {
		t.Fatal("parent not stored")
	}
	if !strings.HasPrefix(m.Text, "[DRILL] DR exercise: Failover Test: Investigating") {
		t.Errorf("fallback text = %q; want it to start with [DRILL]", m.Text)
	}
	if !strings.Contains(allText(t, m), "[DRILL] DR exercise: Failover Test") {
		t.Errorf("header lacks [DRILL]:\n%s", allText(t, m))
	}
}
