package main

import (
	"bytes"
	"context"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kredete/herald/components"
)

// A form is sent as a browser sends it: unchecked and disabled controls
// (also inside a disabled fieldset) are left out, a select sends its
// selected option or else its first, a textarea its text, and no submit
// button unless one is pressed.
func TestFormReadsLikeABrowser(t *testing.T) {
	page := []byte(`<html><body>
<form action="/other" data-testid="other"><input name="x" value="no"></form>
<form method="post" action="/console/incidents/abc/updates" data-testid="composer">
  <input type="hidden" name="version" value="7">
  <select name="status"><option value="investigating">Investigating</option><option value="identified" selected>Identified</option></select>
  <select name="impact"><option value="minor">Minor</option><option value="major">Major</option></select>
  <textarea name="main">
Typed text</textarea>
  <button type="submit" name="action" value="template">Fill</button>
  <fieldset><legend><input type="checkbox" name="audience" value="engineering" checked></legend></fieldset>
  <fieldset><legend><input type="checkbox" name="audience" value="public"></legend></fieldset>
  <fieldset><legend><input type="checkbox" name="audience" value="regulators" checked disabled></legend></fieldset>
  <fieldset disabled><input name="inside" value="gone"><input type="checkbox" name="audience" value="inside" checked></fieldset>
  <input type="checkbox" name="flag">
  <button type="submit" name="action" value="post">Post</button>
</form></body></html>`)
	f, err := findForm(page, "data-testid", "composer")
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"version": {"7"}, "status": {"identified"}, "impact": {"minor"}, "main": {"Typed text"}, "audience": {"engineering"}}
	if diff := cmp.Diff(want, f.values); diff != "" {
		t.Errorf("as loaded (-want +got):\n%s", diff)
	}
	if f.action != "/console/incidents/abc/updates" {
		t.Errorf("action %q", f.action)
	}
	for _, err := range []error{f.set("main", "New text"), f.choose("impact", "major"), f.tickOnly("audience", "public"), f.press("action", "post")} {
		if err != nil {
			t.Fatal(err)
		}
	}
	want = url.Values{"version": {"7"}, "status": {"identified"}, "impact": {"major"}, "main": {"New text"}, "audience": {"public"}, "action": {"post"}}
	if diff := cmp.Diff(want, f.values); diff != "" {
		t.Errorf("filled in (-want +got):\n%s", diff)
	}
	// What the page does not offer is refused, not posted.
	for name, err := range map[string]error{
		"unknown text field":    f.set("mian", "x"),
		"a select as text":      f.set("status", "x"),
		"an unknown option":     f.choose("impact", "catastrophic"),
		"a disabled checkbox":   f.tickOnly("audience", "regulators"),
		"an unknown checkbox":   f.tickOnly("audience", "press"),
		"an unknown button":     f.press("action", "delete"),
		"a field of a fieldset": f.tickOnly("audience", "inside"),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := findForm(page, "data-testid", "declare-form"); err == nil {
		t.Error("found a form the page does not have")
	}
}

// The sign-in form as Herald renders it.
func TestFormSignIn(t *testing.T) {
	var buf bytes.Buffer
	if err := components.SignIn(components.SignInView{Next: "/console/incidents/x"}).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	f, err := findForm(buf.Bytes(), "action", "/console/sign-in")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.set("email", "a@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := f.set("password", "secret"); err != nil {
		t.Fatal(err)
	}
	want := url.Values{"next": {"/console/incidents/x"}, "email": {"a@example.com"}, "password": {"secret"}}
	if diff := cmp.Diff(want, f.values); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
