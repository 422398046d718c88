package catalog

import (
	"encoding/json"
	"reflect"
	"regexp"
	"testing"
	"time"
)

// fill sets every time, pointer, slice (one element) and struct field reachable from v, so that
// a time field added to RequestState later is covered by the test without editing it.
func fill(v reflect.Value, at time.Time) {
	switch {
	case v.Type() == reflect.TypeOf(time.Time{}):
		v.Set(reflect.ValueOf(at))
	case v.Kind() == reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), at)
	case v.Kind() == reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), at)
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), at)
			}
		}
	}
}

func TestRequestStateUTC(t *testing.T) {
	at := time.Date(2026, 12, 3, 12, 36, 17, 0, time.FixedZone("LINT", 14*3600))
	var r RequestState
	fill(reflect.ValueOf(&r).Elem(), at)
	before, _ := json.Marshal(r)
	offset := regexp.MustCompile(`"2026-12-03T12:36:17\+14:00"`)
	if n := len(offset.FindAll(before, -1)); n < 15 {
		t.Fatalf("the filled state has %d instants: %s", n, before)
	}
	out, _ := json.Marshal(r.UTC())
	if offset.Match(out) {
		t.Errorf("UTC left an offset: %s", out)
	}
	if n, want := len(regexp.MustCompile(`"2026-12-02T22:36:17Z"`).FindAll(out, -1)), len(offset.FindAll(before, -1)); n != want {
		t.Errorf("%d instants in UTC, want %d: %s", n, want, out)
	}
	if after, _ := json.Marshal(r); string(after) != string(before) {
		t.Errorf("UTC changed the state it was called on")
	}
}

func TestNextDeadline(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	at := func(h int) *time.Time { x := t0.Add(time.Duration(h) * time.Hour); return &x }
	for _, tc := range []struct {
		a    ApprovalState
		want *time.Time
		due  string
	}{
		{ApprovalState{RemindAt: at(8), EscalateAt: at(24), ExpireAt: at(80)}, at(8), DueReminder},
		{ApprovalState{RemindAt: at(8), EscalateAt: at(24), ExpireAt: at(80), Reminded: true}, at(24), DueEscalation},
		{ApprovalState{RemindAt: at(8), EscalateAt: at(24), ExpireAt: at(80), Reminded: true, Escalated: true}, at(80), DueExpiry},
		{ApprovalState{EscalateAt: at(24), ExpireAt: at(4)}, at(4), DueExpiry},
		{ApprovalState{RemindAt: at(8), Reminded: true}, nil, ""},
		{ApprovalState{}, nil, ""},
	} {
		got, due := tc.a.NextDeadline()
		if due != tc.due || (got == nil) != (tc.want == nil) || got != nil && !got.Equal(*tc.want) {
			t.Errorf("NextDeadline(%+v) = %v %q, want %v %q", tc.a, got, due, tc.want, tc.due)
		}
	}
}
