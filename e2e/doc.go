// Package e2e holds Herald's end-to-end tests: they build the real binary,
// fill a SQLite database with the demo data, start the server and drive it
// with a headless Chromium (chromedp), checking what a visitor sees, the
// live refresh, the page without JavaScript and accessibility (axe-core).
//
// Run them with `go test ./e2e/ -v -count=1`. Chromium must be installed
// (`apt-get install -y chromium`); without it the tests fail, unless
// HERALD_TEST_SKIP_BROWSER=1 is set. Set HERALD_SCREENSHOT_DIR to keep
// full-page screenshots of every page in light, dark and phone layouts.
package e2e
