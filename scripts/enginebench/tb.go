package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
)

// fakeTB lets the test servers (slacktest, smtptest, twiliotest) and
// storetest run outside a test: cleanups run at finish, in reverse order;
// a fatal error panics with fatal, which main reports.
type fakeTB struct {
	testing.TB // not used: every method the helpers call is below
	name       string
	keep       bool
	mu         sync.Mutex
	cleanups   []func()
	dirs       []string
	failed     bool
}

func (t *fakeTB) sub(name string) *fakeTB {
	return &fakeTB{name: t.name + "-" + name, keep: t.keep}
}

func (t *fakeTB) Helper()      {}
func (t *fakeTB) Name() string { return t.name }
func (t *fakeTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}
func (t *fakeTB) Context() context.Context { return context.Background() }

func (t *fakeTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *fakeTB) Log(args ...any)                 { logf("%s", fmt.Sprint(args...)) }
func (t *fakeTB) Logf(format string, args ...any) { logf(format, args...) }
func (t *fakeTB) Error(args ...any)               { t.fail(); logf("error: %s", fmt.Sprint(args...)) }
func (t *fakeTB) Errorf(format string, args ...any) {
	t.fail()
	logf("error: "+format, args...)
}
func (t *fakeTB) Fatal(args ...any) { t.fail(); panic(fatal(fmt.Sprint(args...))) }
func (t *fakeTB) Fatalf(format string, args ...any) {
	t.fail()
	panic(fatal(fmt.Sprintf(format, args...)))
}
func (t *fakeTB) Skip(args ...any)                 { t.Fatal(args...) }
func (t *fakeTB) Skipf(format string, args ...any) { t.Fatalf(format, args...) }
func (t *fakeTB) SkipNow()                         { t.Fatal("skipped") }
func (t *fakeTB) FailNow()                         { t.Fatal("failed") }
func (t *fakeTB) Fail()                            { t.fail() }

func (t *fakeTB) fail() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failed = true
}

// TempDir is one directory per fakeTB, removed at finish unless kept.
func (t *fakeTB) TempDir() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.dirs) == 0 {
		d, err := os.MkdirTemp("", "herald-"+t.name+"-")
		if err != nil {
			panic(fatal(err.Error()))
		}
		t.dirs = append(t.dirs, d)
	}
	return t.dirs[0]
}

// finish runs the cleanups, last first, and removes the directory.
func (t *fakeTB) finish() {
	t.mu.Lock()
	fs := t.cleanups
	t.cleanups = nil
	dirs := t.dirs
	t.dirs = nil
	t.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		func() {
			defer func() {
				if r := recover(); r != nil {
					logf("cleanup: %v", r)
				}
			}()
			fs[i]()
		}()
	}
	for _, d := range dirs {
		if t.keep {
			logf("kept %s", d)
			continue
		}
		os.RemoveAll(d)
	}
}
