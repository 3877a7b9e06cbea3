package email_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kredete/herald/comms/email"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want email.Config
	}{
		{
			name: "submission with STARTTLS by default",
			in:   "smtp://apikey:s3cret@smtp.example.com?from=herald@kredete.com",
			want: email.Config{Host: "smtp.example.com", Port: 587, Username: "apikey", Password: "s3cret", From: "herald@kredete.com", TLS: email.StartTLS},
		},
		{
			name: "smtps implies TLS on 465",
			in:   "smtps://apikey:s3cret@smtp.example.com?from=herald@kredete.com",
			want: email.Config{Host: "smtp.example.com", Port: 465, Username: "apikey", Password: "s3cret", From: "herald@kredete.com", TLS: email.ImplicitTLS},
		},
		{
			name: "tls=tls on smtp:// defaults to 465",
			in:   "smtp://smtp.example.com?from=herald@kredete.com&tls=tls",
			want: email.Config{Host: "smtp.example.com", Port: 465, From: "herald@kredete.com", TLS: email.ImplicitTLS},
		},
		{
			name: "explicit port and mode, case-insensitive",
			in:   "SMTP://smtp.example.com:2525?from=herald@kredete.com&tls=STARTTLS&timeout=10s",
			want: email.Config{Host: "smtp.example.com", Port: 2525, From: "herald@kredete.com", TLS: email.StartTLS, Timeout: 10 * time.Second},
		},
		{
			name: "plain local relay with a display name",
			in:   "smtp://127.0.0.1:1025?from=Herald%20%3Cherald@kredete.com%3E&tls=none",
			want: email.Config{Host: "127.0.0.1", Port: 1025, From: "Herald <herald@kredete.com>", TLS: email.NoTLS},
		},
		{
			name: "credentials in clear text to this machine",
			in:   "smtp://u:p@localhost:25?from=herald@kredete.com&tls=none",
			want: email.Config{Host: "localhost", Port: 25, Username: "u", Password: "p", From: "herald@kredete.com", TLS: email.NoTLS},
		},
		{
			name: "percent-encoded user and password",
			in:   "smtp://ops%40kredete.com:p%40ss%3Aw%2Frd%3F%23%25@smtp.example.com:587?from=herald@kredete.com",
			want: email.Config{Host: "smtp.example.com", Port: 587, Username: "ops@kredete.com", Password: "p@ss:w/rd?#%", From: "herald@kredete.com", TLS: email.StartTLS},
		},
		{
			name: "IPv6 host",
			in:   "smtp://[::1]:2525?from=herald@kredete.com&tls=none",
			want: email.Config{Host: "::1", Port: 2525, From: "herald@kredete.com", TLS: email.NoTLS},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := email.ParseURL(tt.in)
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if got != tt.want {
				t.Errorf("ParseURL(%q)\n got %#v\nwant %#v", tt.in, got, tt.want)
			}
			// The parsed configuration survives a trip through String,
			// except for the password it hides.
			again, err := email.ParseURL(strings.Replace(got.String(), "[redacted]", "x", 1))
			if err != nil {
				t.Fatalf("ParseURL(String()) = %v; String() = %s", err, got.String())
			}
			if again.Password != "" {
				again.Password = got.Password
			}
			if again != got {
				t.Errorf("round trip through %s\n got %#v\nwant %#v", got.String(), again, got)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "  ", "empty"},
		{"no scheme", "smtp.example.com:587", "scheme"},
		{"wrong scheme", "http://smtp.example.com?from=herald@kredete.com", `scheme "http" is not smtp or smtps`},
		{"no slashes", "smtp:smtp.example.com?from=herald@kredete.com", "// missing"},
		{"no host", "smtp://?from=herald@kredete.com", "no host"},
		{"port out of range", "smtp://smtp.example.com:99999?from=herald@kredete.com", "port is not a number from 1 to 65535"},
		{"port not a number", "smtp://smtp.example.com:abc?from=herald@kredete.com", "invalid port"},
		{"path", "smtp://smtp.example.com/relay?from=herald@kredete.com", "has a path"},
		{"unknown tls", "smtp://smtp.example.com?from=herald@kredete.com&tls=ssl", `tls="ssl" is not one of starttls, tls, none`},
		{"smtps with starttls", "smtps://smtp.example.com?from=herald@kredete.com&tls=starttls", "smtps:// means tls=tls"},
		{"no from", "smtp://smtp.example.com", "needs from="},
		{"bad from", "smtp://smtp.example.com?from=herald", `from="herald" is not an email address`},
		{"typo in a parameter", "smtp://smtp.example.com?from=herald@kredete.com&tsl=none", `unknown parameter "tsl"`},
		{"repeated parameter", "smtp://smtp.example.com?from=a@kredete.com&from=b@kredete.com", "gives from 2 times"},
		{"bad timeout", "smtp://smtp.example.com?from=herald@kredete.com&timeout=soon", `timeout="soon"`},
		{"user without password", "smtp://apikey@smtp.example.com?from=herald@kredete.com", "no password"},
		{"password without user", "smtp://:Xq7Zw9@smtp.example.com?from=herald@kredete.com", "no user name"},
		{"password in clear text to a remote host", "smtp://apikey:Xq7Zw9@smtp.example.com?from=herald@kredete.com&tls=none", "clear text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := email.ParseURL(tt.in)
			if err == nil {
				t.Fatalf("ParseURL(%q) = nil error; want one containing %q", tt.in, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseURL(%q) = %q; want it to contain %q", tt.in, err, tt.want)
			}
			if strings.Contains(err.Error(), "Xq7") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// A password written without percent-encoding breaks the URL in odd places;
// whatever the error says, it never quotes a piece of the password.
func TestParseURLErrorsNeverShowThePassword(t *testing.T) {
	for _, in := range []string{
		"smtp://apikey:Xq7/Zw9@smtp.example.com?from=herald@kredete.com",
		"smtp://apikey:Xq7?Zw9@smtp.example.com?from=herald@kredete.com",
		"smtp://apikey:Xq7#Zw9@smtp.example.com?from=herald@kredete.com",
		"smtp://apikey:Xq7%zzZw9@smtp.example.com?from=herald@kredete.com",
		"smtp://apikey:1234/Zw9@smtp.example.com?from=herald@kredete.com",
		"smtp://apikey:12?Zw9@smtp.example.com?from=herald@kredete.com",
		"smtp://apikey:Xq7@Zw9/x@smtp.example.com?from=herald@kredete.com",
		"smtp://apikey:Xq7Zw9@smtp.example.com:bad?from=herald@kredete.com",
		"smtp://apikey:Xq7Zw9@smtp.example.com:0?from=herald@kredete.com",
		"smtp://apikey:Xq7Zw9@smtp.example.com?from=herald@kredete.com&x=%zz",
		"smtp://apikey:Xq7Zw9@smtp.example.com\x7f?from=herald@kredete.com",
	} {
		_, err := email.ParseURL(in)
		if err == nil {
			t.Errorf("ParseURL(%q) = nil error", in)
			continue
		}
		for _, piece := range []string{"Xq7", "Zw9", "1234", "12?"} {
			if strings.Contains(err.Error(), piece) {
				t.Errorf("ParseURL(%q) = %q: shows %q from the password", in, err, piece)
			}
		}
	}
}

func TestConfigRedactsThePassword(t *testing.T) {
	cfg, err := email.ParseURL("smtp://apikey:Xq7Zw9@smtp.example.com?from=herald@kredete.com")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.String(), "smtp://apikey:[redacted]@smtp.example.com:587?from=herald%40kredete.com&tls=starttls"; got != want {
		t.Errorf("String() = %s; want %s", got, want)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("smtp", "config", cfg)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("smtp", "config", cfg)
	for _, s := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%v %+v %#v %s %q", cfg, cfg, cfg, cfg, cfg), logged.String(),
	} {
		if strings.Contains(s, "Xq7Zw9") {
			t.Errorf("the password shows in %s", s)
		}
		if !strings.Contains(s, "[redacted]") {
			t.Errorf("no [redacted] in %s", s)
		}
	}
	if !strings.Contains(logged.String(), `"host":"smtp.example.com"`) {
		t.Errorf("the JSON log lacks the host: %s", logged.String())
	}
}
