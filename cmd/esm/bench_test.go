package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestBenchSmall runs esm bench end to end at a small size: every phase completes without an
// error, the standard request's work is counted, and the ratios are printed. (The numbers
// themselves are measured by make bench, never asserted.)
func TestBenchSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server")
	}
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	t.Chdir(root) // esm bench loads ./examples, as make bench runs it
	// Its read model in a fresh SQLite file, not in a database other tests share.
	t.Setenv("DATABASE_URL", "")
	var out bytes.Buffer
	if err := benchCmd(context.Background(), []string{"-n", "8", "-c", "2", "-rounds", "1", "-timeline"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, &out)
	}
	s := out.String()
	for _, phase := range []string{`ESM end to end \(API -> resolved\)`, `baseline: minimal \(1 no-op activity\)`,
		`baseline: equivalent, flat \(0 activities, \d+ local\)`, `baseline: equivalent, with children \(0 activities, \d+ local; a child: 0 activities, 1 local\)`} {
		if !regexp.MustCompile(phase + `\s+[0-9.]+\s+[0-9.]+\s+0\n`).MatchString(s) {
			t.Errorf("phase %s did not run without errors:\n%s", phase, s)
		}
	}
	m := regexp.MustCompile(`(\d+) history events in its workflow and (\d+) in 1 child workflows; 0 activities, \d+ local activities`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("the standard request's work is not reported as expected:\n%s", s)
	}
	parent, _ := strconv.Atoi(m[1])
	child, _ := strconv.Atoi(m[2])
	if parent+child >= 60 {
		t.Errorf("a standard request has %d+%d history events; want under 60 in all", parent, child)
	}
	for _, want := range []string{`ESM / minimal = [0-9.]+, ESM / equivalent flat = [0-9.]+, ESM / equivalent with children = [0-9.]+`, `submit\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+`, `at the same load \(ESM's phase once more, [1-9][0-9]* bare update-with-starts beside its 8 submits, 0 errors\)`, `WorkflowExecutionCompleted`,
		`ESM end to end \(API -> resolved\)\s+[0-9.]+\s+[1-9][0-9]*\.[0-9]+\s+[0-9.]+\s+[1-9][0-9]*\.[0-9]+\n`} {
		if !regexp.MustCompile(want).MatchString(s) {
			t.Errorf("missing %q:\n%s", want, s)
		}
	}
}
