package config_test

import (
	"testing"

	"github.com/kredete/herald/config"
)

// HERALD_SMS_SIGNUPS_PER_HOUR: 200 unless set; 0 is no cap, not "none".
func TestSMSSignupsPerHour(t *testing.T) {
	for in, want := range map[string]int{"": config.DefaultSMSSignupsPerHour, "0": 0, "1": 1, "5000": 5000} {
		c, err := config.FromEnv(env(map[string]string{"HERALD_SMS_SIGNUPS_PER_HOUR": in}))
		if err != nil || c.SMSSignupsPerHour != want {
			t.Errorf("HERALD_SMS_SIGNUPS_PER_HOUR=%q: %d, %v; want %d", in, c.SMSSignupsPerHour, err, want)
		}
	}
	if config.DefaultSMSSignupsPerHour != 200 {
		t.Errorf("default %d; want 200", config.DefaultSMSSignupsPerHour)
	}
}
