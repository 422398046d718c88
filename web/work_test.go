package web

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
)

// TestOutputErrors: the desk's errors under /outputs land beside the completion form's fields
// (or on its one JSON field when the task declares no schema).
func TestOutputErrors(t *testing.T) {
	schema := map[string]any{"type": "object", "required": []any{"asset_tag"},
		"properties": map[string]any{"asset_tag": map[string]any{"type": "string", "pattern": "^LT-[0-9]{4,6}$"}}}
	fields := outputFields(schema)
	rest := placeErrors(fields, outputErrors([]catalog.FieldError{{Field: "/outputs/asset_tag", Detail: "must match ^LT-[0-9]{4,6}$"}}, false), nil)
	if len(rest) != 0 || fields[0].Name != "asset_tag" || !strings.HasPrefix(fields[0].Error, "Must match") {
		t.Errorf("fields %+v, rest %v", fields, rest)
	}
	whole := outputFields(nil)
	rest = placeErrors(whole, outputErrors([]catalog.FieldError{{Field: "/outputs/x", Detail: "no"}}, true), nil)
	if len(rest) != 0 || whole[0].Error != "No." {
		t.Errorf("fields %+v, rest %v", whole, rest)
	}
}

// TestWorkPages: the task's page offers what the desk says the person may do (TaskForm.May), its completion form from the
// outputs schema with every error tied to its input; the decision form says why it was refused.
func TestWorkPages(t *testing.T) {
	p, _ := newTestPortal(t, true)
	schema := map[string]any{"type": "object", "properties": map[string]any{"asset_tag": map[string]any{"type": "string"}}}
	fields := outputFields(schema)
	fields[0].Error = "Must match."
	pg := taskPage{TaskForm: desk.TaskForm{Task: catalog.TaskState{ID: "prepare", Name: "Prepare and ship the laptop", State: catalog.TaskClaimed, Assignee: "dave"},
		Request: "REQ-000001", Title: "Laptop for Alice Chen", May: desk.TaskMay{Release: true, Complete: true, Fail: true, Ask: true}}, Ref: "REQ-000001.prepare", Fields: fields, FailErr: "Say why."}
	w := httptest.NewRecorder()
	p.render(w, httptest.NewRequest("GET", Base+"/tasks/REQ-000001.prepare", nil), 400, "task", map[string]any{"Page": pg})
	body := w.Body.String()
	for _, want := range []string{`action="/portal/tasks/REQ-000001.prepare/complete"`, `<label for="f-asset_tag">Asset tag`,
		`aria-describedby="f-asset_tag-error"`, `id="f-asset_tag-error">Must match.`, `aria-describedby="reason-error"`, `>Fail the task<`} {
		if !strings.Contains(body, want) {
			t.Errorf("the task's page lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "/claim") {
		t.Errorf("a claimed task's page offers to claim it")
	}
	pg.Task.State, pg.May = catalog.TaskOpen, desk.TaskMay{Claim: true}
	w = httptest.NewRecorder()
	p.render(w, httptest.NewRequest("GET", Base+"/tasks/REQ-000001.prepare", nil), 200, "task", map[string]any{"Page": pg})
	if body := w.Body.String(); !strings.Contains(body, "/claim") || strings.Contains(body, "/complete") {
		t.Errorf("an open task's page offers claim only:\n%s", body)
	}
	w = httptest.NewRecorder()
	p.render(w, httptest.NewRequest("POST", Base+"/requests/REQ-000001/decide", nil), 400, "decide",
		map[string]any{"Form": decisionForm{ID: "REQ-000001", Error: "A rejection needs a reason."}})
	if body := w.Body.String(); !strings.Contains(body, `aria-describedby="decision-comment-error"`) || !strings.Contains(body, `id="decision-comment-error">A rejection needs a reason.`) {
		t.Errorf("the decision form does not tie its error to the comment:\n%s", body)
	}
}
