package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
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
		`baseline: equivalent, flat \(1 activities, \d+ local\)`, `baseline: equivalent, with children as before revision 4 \(1 activities, \d+ local; a child: 0 activities, 1 local\)`} {
		if !regexp.MustCompile(phase + `\s+[0-9.]+\s+[0-9.]+\s+0\n`).MatchString(s) {
			t.Errorf("phase %s did not run without errors:\n%s", phase, s)
		}
	}
	// Revision 4: the task runs inside the request, no child workflow. Revision 5: one activity, the
	// requester told of the outcome (docs/NOTIFICATIONS.md); the baselines do the same work.
	m := regexp.MustCompile(`(\d+) history events in its workflow and (\d+) in 0 child workflows; 1 activities, \d+ local activities`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("the standard request's work is not reported as expected:\n%s", s)
	}
	parent, _ := strconv.Atoi(m[1])
	child, _ := strconv.Atoi(m[2])
	if parent+child > 25 {
		t.Errorf("a standard request has %d+%d history events; want at most 25 in all (issue 16)", parent, child)
	}
	for _, want := range []string{`ESM / minimal = [0-9.]+, ESM / equivalent flat = [0-9.]+, ESM / equivalent with children = [0-9.]+`, `submit\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+`, `at the same load \(ESM's phase once more, [1-9][0-9]* bare update-with-starts beside its 8 submits, 0 errors\)`, `WorkflowExecutionCompleted`,
		`ESM: a standard request\s+\d+\s+[1-9][0-9]* \(start 1, update 1, `,
		`baseline: equivalent, flat \(1 activities, \d+ local\)\s+\d+\s+4 \(start 1, update 1, activity 1, markers 1\)`,
		`decision at the same load \(4 decisions, [1-9][0-9]* bare updates beside them, 0 errors\): decision p50 [0-9.]+, p99 [0-9.]+ ms; bare update p50 [0-9.]+, p99 [0-9.]+ ms`,
		`ESM end to end \(API -> resolved\)\s+[0-9.]+\s+[1-9][0-9]*\.[0-9]+\s+[0-9.]+\s+[1-9][0-9]*\.[0-9]+\n`} {
		if !regexp.MustCompile(want).MatchString(s) {
			t.Errorf("missing %q:\n%s", want, s)
		}
	}
}

// TestBillableActions counts Temporal Cloud billable actions from history events by the
// published rules (docs/BENCHMARKS.md): the markers of one workflow task are one action, an
// upsert of TemporalChangeVersion alone is none, a child's start is two, retries count.
func TestBillableActions(t *testing.T) {
	ev := func(typ enumspb.EventType, attrs any) *historypb.HistoryEvent {
		e := &historypb.HistoryEvent{EventType: typ}
		switch a := attrs.(type) {
		case *historypb.WorkflowExecutionStartedEventAttributes:
			e.Attributes = &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{WorkflowExecutionStartedEventAttributes: a}
		case *historypb.UpsertWorkflowSearchAttributesEventAttributes:
			e.Attributes = &historypb.HistoryEvent_UpsertWorkflowSearchAttributesEventAttributes{UpsertWorkflowSearchAttributesEventAttributes: a}
		case *historypb.ActivityTaskStartedEventAttributes:
			e.Attributes = &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{ActivityTaskStartedEventAttributes: a}
		case *historypb.WorkflowTaskCompletedEventAttributes:
			e.Attributes = &historypb.HistoryEvent_WorkflowTaskCompletedEventAttributes{WorkflowTaskCompletedEventAttributes: a}
		}
		return e
	}
	sa := func(names ...string) *historypb.UpsertWorkflowSearchAttributesEventAttributes {
		f := map[string]*commonpb.Payload{}
		for _, n := range names {
			f[n] = &commonpb.Payload{}
		}
		return &historypb.UpsertWorkflowSearchAttributesEventAttributes{SearchAttributes: &commonpb.SearchAttributes{IndexedFields: f}}
	}
	history := []*historypb.HistoryEvent{
		ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, &historypb.WorkflowExecutionStartedEventAttributes{}),
		ev(enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, &historypb.WorkflowTaskCompletedEventAttributes{}),
		ev(enumspb.EVENT_TYPE_MARKER_RECORDED, nil), // GetVersion's marker
		ev(enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, sa("TemporalChangeVersion")),
		ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, nil),
		ev(enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, sa("EsmStatus", "EsmStage")),
		ev(enumspb.EVENT_TYPE_MARKER_RECORDED, nil), // a local activity in the same task
		ev(enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED, nil),
		ev(enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, nil),
		ev(enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED, &historypb.ActivityTaskStartedEventAttributes{Attempt: 3}),
		ev(enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, &historypb.WorkflowTaskCompletedEventAttributes{
			MeteringMetadata: &commonpb.MeteringMetadata{NonfirstLocalActivityExecutionAttempts: 2}}),
		ev(enumspb.EVENT_TYPE_MARKER_RECORDED, nil), // a new task's markers: one more
		ev(enumspb.EVENT_TYPE_TIMER_STARTED, nil),
		ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, nil),
	}
	a := map[string]int{}
	marked := false
	for _, e := range history {
		billableActions(e, a, marked)
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			marked = false
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			marked = true
		}
	}
	want := "13 (start 1, child start 1, update 1, search attributes 1, activity 1, activity retry 2, markers 2, local activity retry 2, timer 1, signal 1)"
	if got := describeActions(a); got != want {
		t.Errorf("actions = %s, want %s", got, want)
	}
	child := map[string]int{}
	billableActions(ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, &historypb.WorkflowExecutionStartedEventAttributes{
		ParentWorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: "parent"}}), child, false)
	if child["child start"] != 1 || child["start"] != 0 {
		t.Errorf("a child's start counts as the second action of its start: %v", child)
	}
}
