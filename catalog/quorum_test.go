package catalog

import (
	"errors"
	"strings"
	"testing"
)

// A quorum larger than the people a step names is refused at apply, naming the file, the path
// and the rule (issue 15 §2): it would wait for people who do not exist.
func TestQuorumLargerThanTheStepNames(t *testing.T) {
	doc := `
departments: [{key: fin, name: Finance}]
groups: [{key: board, name: Board, department: fin}]
people:
  - {id: ann, name: Ann, department: fin, groups: [board]}
  - {id: ben, name: Ben, department: fin, groups: [board]}
  - {id: cat, name: Cat, department: fin, groups: [board]}
services:
  - key: po
    name: PO
    department: fin
    owner: ann
    request: {form: {type: object}}
    approval:
      steps:
        - {name: board, approvers: {group: board}, mode: quorum, quorum: 5}
        - {name: fine, approvers: {group: board}, mode: quorum, quorum: 3}
        - {name: chain, approvers: {manager: true, levels: 2, people: [ann]}, mode: quorum, quorum: 4}
    governance: {approvers: {group: board}, mode: quorum, quorum: 4}
    fulfilment: {tasks: [{id: do, name: Do, group: board}]}
`
	_, err := Parse("po.yaml", []byte(doc))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("quorum 5 over a group of three: %v", err)
	}
	got := map[string]FieldError{}
	for _, fe := range ve.Errors {
		got[fe.Field] = fe
	}
	for _, field := range []string{"services[0].approval.steps[0].quorum", "services[0].approval.steps[2].quorum", "services[0].governance.quorum"} {
		fe, ok := got[field]
		if !ok || fe.File != "po.yaml" || fe.Rule != "maximum" {
			t.Errorf("%s: %+v (all: %v)", field, fe, err)
		}
	}
	if fe := got["services[0].approval.steps[0].quorum"]; !strings.Contains(fe.Detail, "group board has 3") {
		t.Errorf("the error does not say why: %q", fe.Detail)
	}
	if _, bad := got["services[0].approval.steps[1].quorum"]; bad {
		t.Errorf("a quorum of three over three was refused: %v", err)
	}
	if len(ve.Errors) != 3 {
		t.Errorf("errors: %v", err)
	}
}

// Against a stored directory (esm catalog apply of services alone, a draft through the API),
// the stored members count.
func TestQuorumAgainstKnownMembers(t *testing.T) {
	d := Definition{Key: "po", Name: "PO", Department: "fin", Owner: "ann", Request: RequestSpec{Form: map[string]any{"type": "object"}},
		Approval:   ApprovalPolicy{Steps: []ApprovalStep{{Name: "board", Approvers: Approvers{Group: "board"}, Mode: ModeQuorum, Quorum: 3}}},
		Fulfilment: Fulfilment{Tasks: []TaskSpec{{ID: "do", Name: "Do", Group: "board"}}}}
	known := Known{Departments: map[string]bool{"fin": true}, Groups: map[string]bool{"board": true}, People: map[string]bool{"ann": true, "ben": true},
		Members: map[string]map[string]bool{"board": {"ann": true, "ben": true}}}
	err := ValidateWith(d, known)
	if err == nil || !strings.Contains(err.Error(), "approval.steps[0].quorum") {
		t.Fatalf("quorum 3 over two stored members: %v", err)
	}
	known.Members["board"]["cat"] = true
	if err := ValidateWith(d, known); err != nil {
		t.Fatalf("quorum 3 over three: %v", err)
	}
}
