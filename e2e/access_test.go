package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
)

// TestAccessTable walks the routes of docs/ACCESS.md for every role and checks exactly the status
// the table gives: requester (alice), an uninvolved colleague (erin), the approver (bob), a
// fulfiller (dave), a group lead (tara), an operator (oscar), an admin (adam), the service
// owner and IT head (ivan).
func TestAccessTable(t *testing.T) {
	e := newEnv(t, "sqlite")
	pending := func() string { return submitLaptop(t, e, "alice") }
	approved := func() string {
		id := pending()
		if r := e.call("POST", "/v1/requests/"+id+"/decision", "bob", map[string]any{"decision": "approve"}); r.Status != http.StatusOK {
			t.Fatalf("approve: %d %s", r.Status, r.Raw)
		}
		return id
	}
	type check struct {
		who    string
		status int
	}
	// run calls method path as each person in order (refusals first, the allowed one last when the
	// call changes something) and checks each status.
	run := func(name, method string, path func() string, body any, checks ...check) {
		t.Helper()
		p := path()
		for _, c := range checks {
			if r := e.call(method, p, c.who, body); r.Status != c.status {
				t.Errorf("%s as %s: %d, want %d: %s", name, c.who, r.Status, c.status, r.Raw)
			}
		}
	}
	fixed := func(s string) func() string { return func() string { return s } }
	r1 := pending()
	f1 := approved()

	run("read a pending request", "GET", fixed("/v1/requests/"+r1), nil,
		check{"alice", 200}, check{"bob", 200}, check{"oscar", 200}, check{"erin", 404}, check{"dave", 404}, check{"adam", 404})
	run("read a request in fulfilment", "GET", fixed("/v1/requests/"+f1), nil,
		check{"dave", 200}, check{"tara", 200}, check{"erin", 404})
	run("decide", "POST", func() string { return "/v1/requests/" + pending() + "/decision" }, map[string]any{"decision": "approve"},
		check{"alice", 403}, check{"oscar", 403}, check{"erin", 404}, check{"dave", 404}, check{"adam", 404}, check{"bob", 200})
	run("withdraw", "POST", func() string { return "/v1/requests/" + pending() + "/cancel" }, map[string]any{"reason": "no"},
		check{"bob", 403}, check{"oscar", 403}, check{"erin", 404}, check{"alice", 200})
	run("comment", "POST", func() string { return "/v1/requests/" + pending() + "/comments" }, map[string]any{"text": "hello"},
		check{"erin", 404}, check{"dave", 404}, check{"alice", 201}, check{"bob", 201}, check{"oscar", 201})
	// A priority the service does not offer is nobody's to choose: not the requester's, the
	// owner's, an operator's or an admin's (laptop offers only its default).
	run("choose a priority not offered", "POST", fixed("/v1/requests"), map[string]any{"service": "laptop", "form": laptopForm, "priority": "critical"},
		check{"alice", 422}, check{"ivan", 422}, check{"oscar", 422}, check{"adam", 422})

	f2 := approved()
	task := func(id string) func() string { return func() string { return "/v1/tasks/" + id + ".prepare/claim" } }
	run("claim", "POST", task(f2), nil,
		check{"alice", 403}, check{"bob", 403}, check{"oscar", 403}, check{"erin", 404}, check{"dave", 200}, check{"frank", 409})
	run("complete a task claimed by someone else", "POST", fixed("/v1/tasks/"+f2+".prepare/complete"), map[string]any{},
		check{"frank", 409}, check{"tara", 200})
	f3 := approved()
	run("assign", "POST", fixed("/v1/tasks/"+f3+".prepare/assign"), map[string]any{"assignee": "frank"},
		check{"dave", 403}, check{"alice", 403}, check{"tara", 200})
	run("fail", "POST", fixed("/v1/tasks/"+f3+".prepare/fail"), map[string]any{"reason": "out of stock"},
		check{"dave", 409}, check{"alice", 403}, check{"frank", 200})
	// Nobody fulfils their own request: Dave and Tara (a lead) are in the task's group, and
	// each is refused on a task of the request they made; a colleague, or a lead, acts.
	ownTask := func(requester, approver string) func() string {
		return func() string {
			id := submitLaptop(t, e, requester)
			if r := e.call("POST", "/v1/requests/"+id+"/decision", approver, map[string]any{"decision": "approve"}); r.Status != http.StatusOK {
				t.Fatalf("approve: %d %s", r.Status, r.Raw)
			}
			return "/v1/tasks/" + id + ".prepare"
		}
	}
	d1, t1 := ownTask("dave", "tara")(), ownTask("tara", "ivan")()
	run("claim a task of one's own request", "POST", fixed(d1+"/claim"), nil, check{"dave", 403}, check{"frank", 200})
	run("complete a task of one's own request", "POST", fixed(d1+"/complete"), map[string]any{"outputs": map[string]any{"asset_tag": "LT-9999"}},
		check{"dave", 403}, check{"tara", 200})
	run("claim a task of one's own request, as a lead", "POST", fixed(t1+"/claim"), nil, check{"tara", 403})
	run("assign a task of one's own request, as a lead", "POST", fixed(t1+"/assign"), map[string]any{"assignee": "frank"}, check{"tara", 403})
	run("assign a task to its requester", "POST", fixed(t1+"/assign"), map[string]any{"assignee": "tara"}, check{"tara", 403})
	run("fail a task of one's own request, as a lead", "POST", fixed(t1+"/fail"), map[string]any{"reason": "no stock"}, check{"tara", 403})
	run("ask on a task of one's own request, as a lead", "POST", fixed(t1+"/ask"), map[string]any{"question": "Which keyboard?"}, check{"tara", 403})
	d2 := ownTask("dave", "tara")()
	run("assign a task to its requester", "POST", fixed(d2+"/assign"), map[string]any{"assignee": "dave"}, check{"tara", 403})
	run("ask on a task of one's own request", "POST", fixed(d2+"/ask"), map[string]any{"question": "Which keyboard?"}, check{"dave", 403})
	run("fail a task of one's own request", "POST", fixed(d2+"/fail"), map[string]any{"reason": "no stock"}, check{"dave", 403}, check{"frank", 200})

	for _, who := range []string{"alice", "erin", "bob", "dave", "oscar", "adam"} {
		run("my approvals", "GET", fixed("/v1/approvals"), nil, check{who, 200})
		run("my requests", "GET", fixed("/v1/requests"), nil, check{who, 200})
		run("SLA report", "GET", fixed("/v1/reports/sla"), nil, check{who, 200})
		run("delegations", "GET", fixed("/v1/delegations"), nil, check{who, 200})
	}
	run("a group's queue", "GET", fixed("/v1/tasks?group=it-service-desk"), nil, check{"dave", 200}, check{"alice", 403}, check{"oscar", 403})

	// Internals: the owning department's staff, the owner, operators; not other requesters.
	for who, internal := range map[string]bool{"alice": false, "erin": false, "dave": true, "adam": true, "oscar": true, "ivan": true} {
		r := e.call("GET", "/v1/catalog/services/laptop", who, nil)
		if got := r.Body["internal"] != nil; r.Status != 200 || got != internal {
			t.Errorf("laptop internals as %s: %d, internal %v, want %v", who, r.Status, got, internal)
		}
	}

	// Lifecycle.
	d := laptopDefinition(t)
	d.Key, d.Name = "spare-laptop", "Spare laptop"
	run("create a service", "POST", fixed("/v1/catalog/services"), d, check{"alice", 403}, check{"dave", 201})
	run("deprecate", "POST", fixed("/v1/catalog/services/laptop/lifecycle"), map[string]any{"action": "deprecate"},
		check{"dave", 403}, check{"alice", 403}, check{"oscar", 403}, check{"ivan", 200})
	run("retire", "POST", fixed("/v1/catalog/services/software-licence/lifecycle"), map[string]any{"action": "retire"},
		check{"omar", 403}, check{"dave", 403}, check{"oscar", 403}, check{"adam", 200})
	run("request a retired service", "POST", fixed("/v1/requests"), map[string]any{"service": "software-licence", "form": map[string]any{"product": "ide-pro"}},
		check{"alice", 410})

	// Delegations are one's own.
	r := e.call("POST", "/v1/delegations", "bob", map[string]any{"delegate": "carol", "ends_at": time.Now().Add(48 * time.Hour).Format(time.RFC3339)})
	if r.Status != 201 {
		t.Fatalf("delegate: %d %s", r.Status, r.Raw)
	}
	run("end another's delegation", "DELETE", fixed(fmt.Sprintf("/v1/delegations/%v", r.Body["id"])), nil, check{"carol", 404}, check{"bob", 204})

	// Drafts and their review (issue 15 §1): who one is to a service comes from the stored
	// definition, never the body; the author of a draft never reviews it. VPN access: owner Nina,
	// IT's head Ivan (the default reviewer), his manager Grace.
	b, err := catalog.Load("../examples")
	if err != nil {
		t.Fatal(err)
	}
	var vpn catalog.Definition
	for _, sd := range b.Services {
		if sd.Key == "vpn-access" {
			vpn = sd
		}
	}
	vpn.Summary += " (revised)"
	grab := vpn
	grab.Owner = "erin"
	run("edit a draft naming oneself its owner", "PUT", fixed("/v1/catalog/services/vpn-access/draft"), grab,
		check{"erin", 403}, check{"alice", 403}, check{"dave", 403})
	run("edit a draft", "PUT", fixed("/v1/catalog/services/vpn-access/draft"), vpn, check{"alice", 403}, check{"ivan", 200})
	run("submit a draft", "POST", fixed("/v1/catalog/services/vpn-access/lifecycle"), map[string]any{"action": "submit"},
		check{"dave", 403}, check{"nina", 200})
	run("approve a draft one wrote", "POST", fixed("/v1/catalog/services/vpn-access/lifecycle"), map[string]any{"action": "approve"},
		check{"ivan", 403}, check{"nina", 403}, check{"dave", 403}, check{"grace", 200})
	run("publish", "POST", fixed("/v1/catalog/services/vpn-access/lifecycle"), map[string]any{"action": "publish"},
		check{"dave", 403}, check{"nina", 200})
	// Every saver of the draft under review is its author: Ivan writes version 3, Dave saves
	// it again; neither reviews it, Ivan's manager Grace does.
	vpn.Summary += " again"
	run("edit a draft", "PUT", fixed("/v1/catalog/services/vpn-access/draft"), vpn, check{"ivan", 200}, check{"dave", 200})
	run("submit a draft", "POST", fixed("/v1/catalog/services/vpn-access/lifecycle"), map[string]any{"action": "submit"}, check{"nina", 200})
	run("approve a draft one wrote before a colleague saved it again", "POST", fixed("/v1/catalog/services/vpn-access/lifecycle"), map[string]any{"action": "approve"},
		check{"ivan", 403}, check{"dave", 403}, check{"grace", 200})
}
