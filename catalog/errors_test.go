package catalog

import "testing"

// TestPointer: readable definition paths become RFC 6901 JSON pointers, one format for the API.
func TestPointer(t *testing.T) {
	for in, want := range map[string]string{
		"":                                   "",
		"eligibility.rule":                   "/eligibility/rule",
		"approval.steps[1].mode":             "/approval/steps/1/mode",
		"sla.escalation[0].notify.groups[2]": "/sla/escalation/0/notify/groups/2",
		"sla.warnings[3]":                    "/sla/warnings/3",
		"hours.mon":                          "/hours/mon",
		"key":                                "/key",
		"request.form":                       "/request/form",
		"/form/model":                        "/form/model",
		"fulfilment.tasks[0][1]":             "/fulfilment/tasks/0/1",
		`request.form.properties["a/b~c"]`:   "/request/form/properties/a~1b~0c",
		"cost.parts[0].when":                 "/cost/parts/0/when",
		"approval.steps[0].escalate.to":      "/approval/steps/0/escalate/to",
		"request.windows[2].days[0]":         "/request/windows/2/days/0",
	} {
		if got := Pointer(in); got != want {
			t.Errorf("Pointer(%q) = %q, want %q", in, got, want)
		}
	}
	if got := PointerTo("form", "a/b", "x~y"); got != "/form/a~1b/x~0y" {
		t.Errorf("PointerTo = %q", got)
	}
}
