package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

// TestOperatorCommands: esm requests, show and breaches read the read model.
func TestOperatorCommands(t *testing.T) {
	url := storetest.URL(t, "sqlite")
	t.Setenv("DATABASE_URL", url)
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"migrate"}, &out); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	due := now.Add(-time.Hour)
	for i, breached := range []bool{false, true} {
		r := catalog.RequestState{ID: catalog.RequestID(int64(i + 1)), Number: int64(i + 1), Seq: 1,
			Service:   catalog.ServiceRef{Key: "laptop", Name: "Laptop", Department: "it", Version: 1},
			Requester: catalog.PersonRef{ID: "alice", Name: "Alice Chen"}, Status: catalog.StatusInFulfilment, Stage: "fulfilment: prepare",
			Priority: "normal", SubmittedAt: now, UpdatedAt: now, DueAt: &due, Breached: breached,
			Timeline: []catalog.Event{{Seq: 1, At: now, Type: "submitted", Actor: "alice"}}}
		if _, err := st.ProjectRequest(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	if err := run(ctx, []string{"requests"}, &out); err != nil || !strings.Contains(out.String(), "REQ-000001") || !strings.Contains(out.String(), "REQ-000002") {
		t.Errorf("requests: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"breaches"}, &out); err != nil || strings.Contains(out.String(), "REQ-000001") || !strings.Contains(out.String(), "REQ-000002") {
		t.Errorf("breaches: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"show", "REQ-000002"}, &out); err != nil || !strings.Contains(out.String(), "Laptop v1 for Alice Chen") || !strings.Contains(out.String(), "submitted") {
		t.Errorf("show: %v\n%s", err, out.String())
	}
	if err := run(ctx, []string{"show", "REQ-000009"}, &out); err == nil {
		t.Error("showing a request that does not exist")
	}
}
