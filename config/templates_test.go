package config

import (
	"strings"
	"testing"

	"github.com/kredete/herald"
)

func TestTemplates(t *testing.T) {
	p, err := LoadPlan("")
	if err != nil {
		t.Fatal(err)
	}
	got := map[herald.Status]string{}
	for _, tp := range p.Templates {
		got[tp.Status] = tp.Body
	}
	for _, s := range []herald.Status{herald.Investigating, herald.Identified, herald.Monitoring, herald.Resolved} {
		if !strings.Contains(got[s], "{components}") {
			t.Errorf("default template for %s = %q; want one naming {components}", s, got[s])
		}
	}
	bad := strings.Replace(string(DefaultPlan), "  - status: identified\n", "  - status: identifed\n", 1)
	_, err = ParsePlan([]byte(bad), "bad.yaml")
	if err == nil || !strings.Contains(err.Error(), "templates[1].status") || !strings.Contains(err.Error(), `"identifed" is not one of`) {
		t.Errorf("a misspelt template status gave %v; want an error naming templates[1].status", err)
	}
}
