package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"
)

// console is one signed-in commander in a browser: a cookie jar (the
// session), same-origin form posts with the headers a browser sends (so
// http.CrossOriginProtection judges them as it judges a browser's), and
// redirects followed by hand so that a POST's own response time is known.
type console struct {
	base   string // http://host:port
	client *http.Client
}

func newConsole(base string) (*console, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	return &console{base: base, client: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}, nil
}

// answer is a response read in full.
type answer struct {
	status   int
	location string
	body     []byte
	took     time.Duration // request sent → body read
}

func (c *console) do(ctx context.Context, method, path string, form url.Values, referer string) (answer, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return answer{}, err
	}
	h := req.Header
	h.Set("User-Agent", "herald-loadbench (console)")
	h.Set("Accept", "text/html,application/xhtml+xml")
	h.Set("Sec-Fetch-Site", "same-origin")
	h.Set("Sec-Fetch-Mode", "navigate")
	h.Set("Sec-Fetch-Dest", "document")
	if referer != "" {
		h.Set("Referer", c.base+referer)
	}
	if form != nil {
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		h.Set("Origin", c.base)
	}
	began := time.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, location: resp.Header.Get("Location"), body: b, took: time.Since(began)}, nil
}

// page GETs a console page, which must answer 200.
func (c *console) page(ctx context.Context, path string) ([]byte, error) {
	a, err := c.do(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if a.status != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", path, a.status, snippet(a.body))
	}
	return a.body, nil
}

// submit posts f from the page at referer and expects 303 See Other.
func (c *console) submit(ctx context.Context, f *form, referer string) (answer, error) {
	a, err := c.do(ctx, http.MethodPost, f.action, f.values, referer)
	if err != nil {
		return a, fmt.Errorf("POST %s: %w", f.action, err)
	}
	if a.status != http.StatusSeeOther {
		return a, fmt.Errorf("POST %s: %d, not 303 See Other: %s", f.action, a.status, snippet(a.body))
	}
	return a, nil
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// signIn fills the sign-in form.
func (c *console) signIn(ctx context.Context, email, password string) error {
	const path = "/console/sign-in"
	p, err := c.page(ctx, path)
	if err != nil {
		return err
	}
	f, err := findForm(p, "action", path)
	if err != nil {
		return err
	}
	if err := f.set("email", email); err != nil {
		return err
	}
	if err := f.set("password", password); err != nil {
		return err
	}
	a, err := c.submit(ctx, f, path)
	if err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	if a.location != "/console" {
		return fmt.Errorf("sign in: redirected to %q, not /console", a.location)
	}
	return nil
}

// declare fills the console's declaration form: a major incident with
// the first component listed in partial outage. It returns the incident's
// page (/console/incidents/ID).
func (c *console) declare(ctx context.Context, name, body string) (string, error) {
	const path = "/console/incidents/new"
	p, err := c.page(ctx, path)
	if err != nil {
		return "", err
	}
	f, err := findForm(p, "data-testid", "declare-form")
	if err != nil {
		return "", err
	}
	comps := f.selects("component_")
	if len(comps) == 0 {
		return "", fmt.Errorf("the declaration form lists no components")
	}
	for _, err := range []error{f.set("name", name), f.choose("impact", "major"), f.set("body", body),
		f.choose(comps[0], "partial_outage")} {
		if err != nil {
			return "", err
		}
	}
	a, err := c.submit(ctx, f, path)
	if err != nil {
		return "", fmt.Errorf("declare: %w", err)
	}
	if !strings.HasPrefix(a.location, "/console/incidents/") {
		return "", fmt.Errorf("declare: redirected to %q, not an incident's page", a.location)
	}
	return a.location, nil
}

// post is one update posted through the composer.
type post struct {
	n          int
	sent, resp time.Time     // the POST went out; its 303 was read
	reload     time.Duration // GET of the page the 303 names (a browser follows it at once)
	stale      int           // 409s (the incident changed under the form) resubmitted
	err        error
}

// postUpdate fills the composer on the incident's page (the page as it
// was last loaded) with text for the public audience only and posts it,
// then loads the page the 303 names, as a browser does, and returns it
// for the next post. A 409 (the incident changed since the page was
// loaded) shows the latest page with the text kept: the commander posts
// again, as the page tells them to, up to three times.
func (c *console) postUpdate(ctx context.Context, incident string, page []byte, text string) (post, []byte) {
	var p post
	for attempt := 0; ; attempt++ {
		f, err := findForm(page, "data-testid", "composer")
		if err != nil {
			p.err = err
			return p, page
		}
		for _, err := range []error{f.set("main", text), f.tickOnly("audience", "public"), f.press("action", "post")} {
			if err != nil {
				p.err = err
				return p, page
			}
		}
		p.sent = time.Now()
		a, err := c.do(ctx, http.MethodPost, f.action, f.values, incident)
		p.resp = time.Now()
		if err != nil {
			p.err = fmt.Errorf("POST %s: %w", f.action, err)
			return p, page
		}
		if a.status == http.StatusConflict && attempt < 3 {
			p.stale++
			page = a.body
			continue
		}
		if a.status != http.StatusSeeOther || a.location != incident {
			p.err = fmt.Errorf("POST %s: %d (Location %q), not 303 to %s: %s", f.action, a.status, a.location, incident, snippet(a.body))
			return p, page
		}
		break
	}
	began := time.Now()
	next, err := c.page(ctx, incident)
	p.reload = time.Since(began)
	if err != nil {
		p.err = err
		return p, page
	}
	return p, next
}
