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

// TestOperatorCommandsAs: with --as the terminal answers what that person may see, through desk,
// as the API would: Alice her own request, Erin (uninvolved) nothing; without it, the operator.
func TestOperatorCommandsAs(t *testing.T) {
	url := storetest.URL(t, "sqlite")
	t.Setenv("DATABASE_URL", url)
	t.Setenv("TEMPORAL_ADDRESS", "127.0.0.1:1") // nobody answers: the read model does
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
	due := now.Add(-time.Hour)
	r := catalog.RequestState{ID: catalog.RequestID(42), Number: 42, Seq: 1,
		Service:   catalog.ServiceRef{Key: "laptop", Name: "Laptop", Department: "it", Version: 1},
		Requester: catalog.PersonRef{ID: "alice", Name: "Alice Chen"}, Status: catalog.StatusInFulfilment, Stage: "fulfilment: prepare",
		Priority: "normal", SubmittedAt: now, UpdatedAt: now, DueAt: &due, Breached: true,
		Timeline: []catalog.Event{{Seq: 1, At: now, Type: "submitted", Actor: "alice"}}}
	if _, err := st.ProjectRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string // "" : an error
	}{
		{[]string{"show", "REQ-000042", "--as", "alice"}, "Laptop v1 for Alice Chen"},
		{[]string{"show", "--as", "alice", "REQ-000042"}, "(from the read model: the workflow did not answer)"},
		{[]string{"show", "REQ-000042", "--as", "erin"}, ""},
		{[]string{"show", "REQ-000042", "--as", "nobody"}, ""},
		{[]string{"show", "REQ-000042", "--as", "oscar"}, "submitted"},
		{[]string{"show", "REQ-000042"}, "submitted"},
		{[]string{"requests", "--as", "alice"}, "REQ-000042"},
		{[]string{"requests", "--as", "erin"}, "ID"},
		{[]string{"requests", "-status", "nonsense"}, ""},
		{[]string{"breaches", "--as", "alice"}, "REQ-000042"},
		{[]string{"breaches", "--as", "erin"}, "no open request has breached its SLA"},
		{[]string{"breaches"}, "REQ-000042"},
	} {
		out.Reset()
		err := run(ctx, c.args, &out)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("%v: no error\n%s", c.args, out.String())
		case c.want != "" && (err != nil || !strings.Contains(out.String(), c.want)):
			t.Errorf("%v: %v, want %q in\n%s", c.args, err, c.want, out.String())
		}
	}
	out.Reset()
	if err := run(ctx, []string{"requests", "--as", "erin"}, &out); err != nil || strings.Contains(out.String(), "REQ-000042") {
		t.Errorf("erin's requests: %v\n%s", err, out.String())
	}
	if err := run(ctx, []string{"show", "REQ-000042", "--as", "erin"}, &out); err == nil || err.Error() != "no request REQ-000042" {
		t.Errorf("erin: %v", err)
	}
}
