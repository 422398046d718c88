package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/esmhq/esm/api"
	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store/storetest"
	"github.com/esmhq/esm/workflows"
)

// Issue 16 §8: a request that takes far more comments than any person would write keeps a
// bounded history (it continues as new), answers a GET with every event (the ones its state
// no longer holds from the read model), keeps its Query small, and still resolves.
func TestThousandsOfComments(t *testing.T) {
	const (
		during     = 700 // comments while the manager's step waits, and as many in fulfilment
		kept       = 20
		continueAt = 300
	)
	bounds := &workflows.Bounds{ContinueAfter: continueAt, Kept: kept, Comments: 2 * during}
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := startEnvWith(t, freshNamespace(t), storetest.URL(t, dialect), true, nil, func(c *api.Config) {
				c.RequestBounds, c.RatePerSecond = bounds, -1 // one requester posting as fast as the API takes it
			})
			r := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "laptop", "form": laptopForm}, "Idempotency-Key", "chatty-1")
			if r.Status != http.StatusCreated {
				t.Fatalf("submit: %d %s", r.Status, r.Raw)
			}
			id := r.Body["id"].(string)
			start := time.Now()
			post := func(from, to int) {
				var wg sync.WaitGroup
				next := make(chan int)
				for range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range next {
							who := "alice"
							if i%10 == 0 {
								who = "bob" // the approver answers now and then
							}
							text := fmt.Sprintf("comment %04d: %s", i, longText)
							if r := e.call("POST", "/v1/requests/"+id+"/comments", who, map[string]any{"text": text}); r.Status != http.StatusCreated {
								t.Errorf("comment %d: %d %s", i, r.Status, r.Raw)
							}
						}
					}()
				}
				for i := from; i < to; i++ {
					next <- i
				}
				close(next)
				wg.Wait()
			}
			post(0, during)
			r = e.call("POST", "/v1/requests/"+id+"/decision", "bob", map[string]any{"decision": "approve", "comment": "go ahead"})
			if r.Status != http.StatusOK || r.Body["status"] != "in_fulfilment" {
				t.Fatalf("approve after %d comments: %d %s", during, r.Status, r.Raw)
			}
			post(during, 2*during)
			t.Logf("%d comments in %s", 2*during, time.Since(start).Round(time.Millisecond))
			r = e.call("POST", "/v1/requests/"+id+"/comments", "alice", map[string]any{"text": "one more"})
			if r.Status != http.StatusConflict {
				t.Errorf("comment past the bound: %d %s", r.Status, r.Raw)
			}

			// The Query answers the state with the latest events only, far under 4 MB.
			v, err := e.tc.QueryWorkflow(context.Background(), workflows.RequestWorkflowID(id), "", workflows.StateQuery, workflows.StateQueryInput{})
			if err != nil {
				t.Fatal(err)
			}
			var live catalog.RequestState
			if err := v.Get(&live); err != nil {
				t.Fatal(err)
			}
			doc, _ := json.Marshal(live)
			if len(live.Timeline) > kept+5 || len(doc) > 64<<10 {
				t.Errorf("the Query answers %d events, %d bytes", len(live.Timeline), len(doc))
			}
			desc, err := e.tc.DescribeWorkflowExecution(context.Background(), workflows.RequestWorkflowID(id), "")
			if err != nil {
				t.Fatal(err)
			}
			info := desc.WorkflowExecutionInfo
			if info.GetFirstRunId() == info.GetExecution().GetRunId() || info.GetHistoryLength() > 2*continueAt {
				t.Errorf("run %s of %s (first %s) has %d events: the request did not continue as new", info.GetExecution().GetRunId(),
					id, info.GetFirstRunId(), info.GetHistoryLength())
			}
			if got := info.GetSearchAttributes().GetIndexedFields()[workflows.AttrStatus.GetName()]; got == nil {
				t.Errorf("the continued run lost its search attributes: %v", info.GetSearchAttributes())
			}

			// GET while it runs: every event, in order, each comment once.
			checkEvents(t, e.call("GET", "/v1/requests/"+id, "alice", nil), 2*during, "in_fulfilment")

			tasks := e.call("GET", "/v1/tasks", "dave", nil).Body["items"].([]any)
			if len(tasks) != 1 {
				t.Fatalf("dave's queue: %v", tasks)
			}
			task := tasks[0].(map[string]any)["id"].(string)
			r = e.call("POST", "/v1/tasks/"+task+"/complete", "dave", map[string]any{"outputs": map[string]any{"asset_tag": "LT-0042"}})
			if r.Status != http.StatusOK || r.Body["status"] != "resolved" {
				t.Fatalf("complete: %d %s", r.Status, r.Raw)
			}
			var res workflows.RequestResult
			if err := e.tc.GetWorkflow(context.Background(), workflows.RequestWorkflowID(id), "").Get(context.Background(), &res); err != nil || res.Status != "resolved" {
				t.Errorf("workflow result %+v, %v", res, err)
			}
			// GET once closed, from the read model: every event too.
			checkEvents(t, e.call("GET", "/v1/requests/"+id, "alice", nil), 2*during, "resolved")
		})
	}
}

// longText makes each comment a long one, as the "long ones".
var longText = func() string {
	b := make([]byte, 1500)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return string(b)
}()

// checkEvents checks that a GET's timeline holds every event once, in order, with every
// comment of the test once.
func checkEvents(t *testing.T, r response, comments int, status string) {
	t.Helper()
	if r.Status != http.StatusOK || r.Body["status"] != status {
		t.Fatalf("GET: %d %s", r.Status, r.Body["status"])
	}
	seen := map[string]bool{}
	for i, ev := range r.Body["timeline"].([]any) {
		e := ev.(map[string]any)
		if int(e["seq"].(float64)) != i+1 {
			t.Fatalf("event %d has seq %v", i+1, e["seq"])
		}
		if e["type"] == "comment" {
			text := e["detail"].(string)
			if seen[text] {
				t.Errorf("comment %.12s twice", text)
			}
			seen[text] = true
		}
	}
	if len(seen) != comments {
		t.Errorf("GET shows %d comments of %d", len(seen), comments)
	}
}
