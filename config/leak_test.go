package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestConfigNeverPrintsTheDatabasePassword(t *testing.T) {
	c, err := FromEnv(func(k string) string {
		if k == "HERALD_DATABASE_URL" {
			return "postgres://herald:s3cr3t-pw@db:5432/herald"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "config", c)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c)
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), buf.String()} {
		if strings.Contains(out, "s3cr3t-pw") {
			t.Errorf("the database password leaked: %s", out)
		}
		if !strings.Contains(out, "herald:[redacted]@db") {
			t.Errorf("the redacted URL is missing: %s", out)
		}
	}
}
