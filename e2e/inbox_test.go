package e2e

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/store/storetest"
)

// submitTo submits a request of service with an empty form as who and returns its id.
func submitTo(t *testing.T, e *env, who, service string) string {
	t.Helper()
	r := e.call("POST", "/v1/requests", who, map[string]any{"service": service, "form": map[string]any{}})
	if r.Status != http.StatusCreated {
		t.Fatalf("submit %s: %d %s", service, r.Status, r.Raw)
	}
	return r.Body["id"].(string)
}

// inboxOf lists person's approval inbox (one page of up to 200) as request ids.
func inboxOf(e *env, person string) ([]string, []map[string]any) {
	e.t.Helper()
	r := e.call("GET", "/v1/approvals?limit=200", person, nil)
	if r.Status != http.StatusOK {
		e.t.Fatalf("%s's inbox: %d %s", person, r.Status, r.Raw)
	}
	list := items(r)
	ids := make([]string, len(list))
	for i, it := range list {
		ids[i] = it["request"].(string)
	}
	return ids, list
}

// TestInboxNeverShowsOwnRequest: Bob, Alice's manager, delegates his approvals to Alice; her
// own laptop request is in Bob's inbox, never in hers "for Bob", while Carol's, which Bob
// also approves, is (issue 15 §1).
func TestInboxNeverShowsOwnRequest(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			if r := e.call("POST", "/v1/delegations", "bob", map[string]any{"delegate": "alice", "ends_at": time.Now().Add(7 * 24 * time.Hour).Format(time.RFC3339)}); r.Status != http.StatusCreated {
				t.Fatalf("delegate: %d %s", r.Status, r.Raw)
			}
			own := submitLaptop(t, e, "alice")
			carols := submitLaptop(t, e, "carol")
			if ids, _ := inboxOf(e, "bob"); !slices.Equal(ids, []string{own, carols}) {
				t.Errorf("bob's inbox = %v, want %v", ids, []string{own, carols})
			}
			ids, list := inboxOf(e, "alice")
			if !slices.Equal(ids, []string{carols}) || list[0]["on_behalf_of"] != "bob" {
				t.Errorf("alice's inbox = %v, want only %s, on behalf of bob", list, carols)
			}
			// Pages count only what is shown: one item, and no further page.
			r := e.call("GET", "/v1/approvals?limit=1", "alice", nil)
			if len(items(r)) != 1 || items(r)[0]["request"] != carols || r.Body["next_cursor"] != nil {
				t.Errorf("alice's first page of one: %s", r.Raw)
			}
		})
	}
}

// pageThrough reads path a page of limit at a time as person, calling between after each page
// but the last, and returns the ids (key) of every item in order and the page sizes.
func pageThrough(t *testing.T, e *env, path, person, key string, limit int, between func(page int)) ([]string, []int) {
	t.Helper()
	var ids []string
	var sizes []int
	cursor := ""
	for page := 0; ; page++ {
		if page > 20 {
			t.Fatalf("%s: more than 20 pages", path)
		}
		q := url.Values{"limit": {strconv.Itoa(limit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		r := e.call("GET", path+sep+q.Encode(), person, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("%s page %d: %d %s", path, page, r.Status, r.Raw)
		}
		list := items(r)
		sizes = append(sizes, len(list))
		for _, it := range list {
			ids = append(ids, it[key].(string))
		}
		next, _ := r.Body["next_cursor"].(string)
		if next == "" {
			return ids, sizes
		}
		if between != nil {
			between(page)
		}
		cursor = next
	}
}

// TestInboxAndQueuePages: the approval inbox and the task queue come a page at a time, oldest
// first, with an opaque cursor that is stable while new work arrives; a cursor that is not one
// is 422 naming it (issue 15 §4).
func TestInboxAndQueuePages(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			var want []string
			for range 5 {
				want = append(want, submitTo(t, e, "alice", "test-zone-plain"))
			}
			// A request submitted while Bob pages comes last, once.
			got, sizes := pageThrough(t, e, "/v1/approvals", "bob", "request", 2, func(page int) {
				if page == 0 {
					want = append(want, submitTo(t, e, "erin", "test-zone-plain"))
				}
			})
			if !slices.Equal(got, want) || !slices.Equal(sizes, []int{2, 2, 2}) {
				t.Errorf("bob's inbox in pages %v = %v, want %v", sizes, got, want)
			}

			// Bob approves them all, in order: six tasks in the service desk's queue.
			var tasks []string
			for _, id := range want {
				if r := e.call("POST", "/v1/requests/"+id+"/decision", "bob", map[string]any{"decision": "approve"}); r.Status != http.StatusOK {
					t.Fatalf("approve %s: %d %s", id, r.Status, r.Raw)
				}
				tasks = append(tasks, id+".do")
			}
			got, sizes = pageThrough(t, e, "/v1/tasks", "dave", "id", 4, func(int) {
				// Claiming a task already listed moves nothing: the queue lists open and claimed.
				if r := e.call("POST", "/v1/tasks/"+tasks[0]+"/claim", "dave", nil); r.Status != http.StatusOK {
					t.Fatalf("claim: %d %s", r.Status, r.Raw)
				}
			})
			if !slices.Equal(got, tasks) || !slices.Equal(sizes, []int{4, 2}) {
				t.Errorf("the queue in pages %v = %v, want %v", sizes, got, tasks)
			}
			if got, _ := pageThrough(t, e, "/v1/tasks?state=claimed", "dave", "id", 1, nil); !slices.Equal(got, tasks[:1]) {
				t.Errorf("claimed tasks = %v", got)
			}

			// Cursors that are not ones a page gave.
			forged := base64.RawURLEncoding.EncodeToString([]byte(`{"x":1}`))
			for _, path := range []string{"/v1/approvals", "/v1/tasks"} {
				for _, bad := range []string{"nope!", "REQ-000001", forged, strings.Repeat("A", 2000)} {
					r := e.call("GET", path+"?cursor="+url.QueryEscape(bad), "dave", nil)
					if r.Status != http.StatusUnprocessableEntity || fieldsOf(r)["cursor"] == "" {
						t.Errorf("%s?cursor=%.20s: %d %s", path, bad, r.Status, r.Raw)
					}
				}
			}
		})
	}
}

// TestInboxNextDeadline: the inbox shows a step's next deadline and what it is, moving on as
// deadlines fire: the reminder (2 s), the escalation (4 s), then the expiry (a day) (issue 15
// §4).
func TestInboxNextDeadline(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			id := submitTo(t, e, "alice", "test-zone")
			st := e.call("GET", "/v1/requests/"+id, "alice", nil)
			step := st.Body["approvals"].([]any)[0].(map[string]any)
			want := map[string]time.Time{}
			for due, field := range map[string]string{"reminder": "remind_at", "escalation": "escalate_at", "expiry": "expire_at"} {
				at, err := time.Parse(time.RFC3339Nano, step[field].(string))
				if err != nil {
					t.Fatalf("%s: %v", field, err)
				}
				want[due] = at
			}
			next := func(person string) (string, time.Time) {
				_, list := inboxOf(e, person)
				for _, it := range list {
					if it["request"] == id {
						due, _ := it["due"].(string)
						at, _ := time.Parse(time.RFC3339Nano, str(it["due_at"]))
						return due, at
					}
				}
				return "", time.Time{}
			}
			for _, due := range []string{"reminder", "escalation", "expiry"} {
				var got string
				var at time.Time
				for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
					if got, at = next("bob"); got == due {
						break
					}
				}
				// Postgres keeps microseconds.
				if got != due || at.Sub(want[due]).Abs() > time.Microsecond {
					t.Fatalf("bob's next deadline = %q at %v, want %q at %v", got, at, due, want[due])
				}
			}
			// The escalation asked Bob's manager, Grace: her next deadline is the expiry.
			if due, at := next("grace"); due != "expiry" || at.Sub(want["expiry"]).Abs() > time.Microsecond {
				t.Errorf("grace's next deadline = %q at %v, want the expiry at %v", due, at, want["expiry"])
			}
		})
	}
}

// rfc3339 matches a JSON string that is an RFC 3339 instant.
var rfc3339 = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)

// instantsNotUTC walks a JSON value and returns the path and value of every RFC 3339 string in
// it that does not end in Z; n counts the instants seen.
func instantsNotUTC(v any, path string, n *int) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			out = append(out, instantsNotUTC(x, path+"/"+k, n)...)
		}
	case []any:
		for i, x := range v {
			out = append(out, instantsNotUTC(x, path+"/"+strconv.Itoa(i), n)...)
		}
	case string:
		if rfc3339.MatchString(v) {
			*n++
			if !strings.HasSuffix(v, "Z") {
				out = append(out, path+"="+v)
			}
		}
	}
	return out
}

// TestTimesInUTC walks every answer of a request's life in a department whose calendar is
// fourteen hours ahead of UTC (submit, get from the Query and from the read model, lists, the
// inbox, a decision, the queue, task calls, the quote, the service's lifecycle, delegations) and
// checks that every instant in them is UTC, written with Z (issue 15 §4).
func TestTimesInUTC(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			seen := 0
			check := func(what string, r response) {
				t.Helper()
				if r.Status >= 300 {
					t.Fatalf("%s: %d %s", what, r.Status, r.Raw)
				}
				var v any
				if err := json.Unmarshal(r.Raw, &v); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if bad := instantsNotUTC(v, "", &seen); len(bad) > 0 {
					t.Errorf("%s: instants not in UTC: %v", what, bad)
				}
			}
			check("quote", e.call("POST", "/v1/catalog/services/test-zone/quote", "alice", map[string]any{"form": map[string]any{}}))
			check("service", e.call("GET", "/v1/catalog/services/test-zone", "oscar", nil))
			check("lifecycle", e.call("GET", "/v1/catalog/services/test-zone/lifecycle", "oscar", nil))
			check("delegation", e.call("POST", "/v1/delegations", "bob", map[string]any{"delegate": "carol",
				"starts_at": time.Now().In(time.FixedZone("", 14*3600)).Format(time.RFC3339),
				"ends_at":   time.Now().Add(24 * time.Hour).In(time.FixedZone("", -10*3600)).Format(time.RFC3339)}))
			check("delegations", e.call("GET", "/v1/delegations", "bob", nil))
			submit := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "test-zone", "form": map[string]any{}})
			check("submit", submit)
			id := submit.Body["id"].(string)
			check("get (Query) pending", e.call("GET", "/v1/requests/"+id, "alice", nil))
			check("list", e.call("GET", "/v1/requests", "alice", nil))
			check("inbox", e.call("GET", "/v1/approvals", "bob", nil))
			check("inbox of a delegate", e.call("GET", "/v1/approvals", "carol", nil))
			check("decision", e.call("POST", "/v1/requests/"+id+"/decision", "bob", map[string]any{"decision": "approve"}))
			check("get (Query) in fulfilment", e.call("GET", "/v1/requests/"+id, "dave", nil))
			check("queue", e.call("GET", "/v1/tasks", "dave", nil))
			check("claim", e.call("POST", "/v1/tasks/"+id+".do/claim", "dave", nil))
			check("complete", e.call("POST", "/v1/tasks/"+id+".do/complete", "dave", map[string]any{"outputs": map[string]any{}}))
			check("done tasks", e.call("GET", "/v1/tasks?state=done", "dave", nil))
			closed := e.call("GET", "/v1/requests/"+id, "alice", nil)
			check("get (read model) resolved", closed)
			if closed.Body["status"] != "resolved" {
				t.Fatalf("the request is %v, want resolved", closed.Body["status"])
			}
			check("list after", e.call("GET", "/v1/requests", "alice", nil))
			check("report", e.call("GET", "/v1/reports/sla?from="+url.QueryEscape(time.Now().Add(-time.Hour).In(time.FixedZone("", 14*3600)).Format(time.RFC3339)), "oscar", nil))
			// The state the read model holds, as stored, is UTC too.
			doc, err := e.store.Request(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(doc)
			check("stored state", response{Status: 200, Raw: raw})
			if seen < 40 {
				t.Errorf("only %d instants seen: the walk missed answers", seen)
			}
		})
	}
}

// TestInboxOnlyWhatMayBeDecided: the inbox lists a step only to whom the decision validator
// would let decide it (issue 15 §1). Carol is the delegate of Sam (step 1 of Sara's purchase
// order: her manager) and of Farah (step 2: the Finance approvers); having decided step 1 for
// Sam, she may not decide step 2, so it is not in her inbox "for Farah", while Farah, who may
// decide it, still sees it. Fay, a Finance approver and Farah's delegate too, approves step 2
// herself; she may not decide it again "for Farah", so it leaves her inbox.
func TestInboxOnlyWhatMayBeDecided(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			for _, d := range [][2]string{{"sam", "carol"}, {"farah", "carol"}, {"farah", "fay"}} {
				r := e.call("POST", "/v1/delegations", d[0], map[string]any{"delegate": d[1], "ends_at": time.Now().Add(7 * 24 * time.Hour).Format(time.RFC3339)})
				if r.Status != http.StatusCreated {
					t.Fatalf("%s delegates to %s: %d %s", d[0], d[1], r.Status, r.Raw)
				}
			}
			r := e.call("POST", "/v1/requests", "sara", purchaseOrder9000)
			if r.Status != http.StatusCreated {
				t.Fatalf("submit: %d %s", r.Status, r.Raw)
			}
			id := r.Body["id"].(string)
			inboxHas := func(person string) []string {
				t.Helper()
				var for_ []string
				_, list := inboxOf(e, person)
				for _, it := range list {
					if it["request"] == id {
						who, _ := it["on_behalf_of"].(string)
						for_ = append(for_, cmp.Or(who, person))
					}
				}
				return for_
			}
			decide := func(who string, want int) {
				t.Helper()
				r := e.call("POST", "/v1/requests/"+id+"/decision", who, map[string]any{"decision": "approve"})
				if r.Status != want {
					t.Fatalf("%s approves %s: %d, want %d: %s", who, id, r.Status, want, r.Raw)
				}
			}
			if got := inboxHas("carol"); !slices.Equal(got, []string{"sam"}) {
				t.Fatalf("step 1 in carol's inbox for %v, want for sam", got)
			}
			decide("carol", http.StatusOK) // step 1, for Sam
			if got := inboxHas("farah"); !slices.Equal(got, []string{"farah"}) {
				t.Errorf("step 2 in farah's inbox for %v, want for farah", got)
			}
			if got := inboxHas("carol"); len(got) > 0 {
				t.Errorf("step 2 in carol's inbox for %v; she decided step 1 and may not decide it", got)
			}
			decide("carol", http.StatusForbidden)
			if got := inboxHas("fay"); !slices.Equal(got, []string{"farah", "fay"}) && !slices.Equal(got, []string{"fay", "farah"}) {
				t.Errorf("step 2 in fay's inbox for %v, want for fay and farah", got)
			}
			decide("fay", http.StatusOK) // her own approval
			if got := inboxHas("fay"); len(got) > 0 {
				t.Errorf("step 2 in fay's inbox for %v after she decided it", got)
			}
			decide("fay", http.StatusConflict)
			if got := inboxHas("farah"); !slices.Equal(got, []string{"farah"}) {
				t.Errorf("step 2 in farah's inbox for %v, want for farah", got)
			}
			decide("farah", http.StatusOK)
			if st := e.call("GET", "/v1/requests/"+id, "sara", nil); st.Body["status"] != "in_fulfilment" {
				t.Errorf("after two Finance approvals the request is %v", st.Body["status"])
			}
		})
	}
}
