package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

// TestTerminalAsEmptyIsRefused: --as with an empty value (esm show "$ID" --as "$PERSON" with
// PERSON unset) is refused: it must never fall back to the operator, who sees every request.
func TestTerminalAsEmptyIsRefused(t *testing.T) {
	url := storetest.URL(t, "sqlite")
	t.Setenv("DATABASE_URL", url)
	t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
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
	b, err := catalog.Load("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := st.ApplyBundle(ctx, b, now); err != nil {
		t.Fatal(err)
	}
	r := catalog.RequestState{ID: catalog.RequestID(42), Number: 42, Seq: 1,
		Service:   catalog.ServiceRef{Key: "laptop", Name: "Laptop", Department: "it", Version: 1},
		Requester: catalog.PersonRef{ID: "alice", Name: "Alice Chen"}, Status: catalog.StatusInFulfilment, Stage: "fulfilment: prepare",
		Priority: "normal", SubmittedAt: now, UpdatedAt: now,
		Timeline: []catalog.Event{{Seq: 1, At: now, Type: "submitted", Actor: "alice"}}}
	if _, err := st.ProjectRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"show", "REQ-000042", "--as", ""},
		{"show", "REQ-000042", "--as="},
		{"show", "REQ-000042", "--as", "erin", "--as", ""},
		{"requests", "--as", ""},
	} {
		out.Reset()
		if err := run(ctx, args, &out); err == nil {
			t.Errorf("%q: answered as the operator:\n%s", args, out.String())
		}
	}
}
