package calendar

import (
	"math/rand"
	"testing"
	"time"
)

var london, _ = time.LoadLocation("Europe/London")

func nineToFive() Calendar {
	return Calendar{TimeZone: "Europe/London", Hours: map[string]string{
		"mon": "09:00-17:00", "tue": "09:00-17:00", "wed": "09:00-17:00", "thu": "09:00-17:00", "fri": "09:00-17:00"}}
}

func at(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, london)
}

func TestKnownAnswers(t *testing.T) {
	c := nineToFive()
	c.Holidays = []Holiday{{Date: "2026-12-25", Name: "Christmas"}, {Date: "2026-12-24", Half: true}}
	cases := []struct {
		name string
		from time.Time
		add  time.Duration
		want time.Time
	}{
		{"Friday 16:00 + 4h is Monday 12:00", at(2026, 11, 27, 16, 0), 4 * time.Hour, at(2026, 11, 30, 12, 0)},
		{"before opening starts at nine", at(2026, 11, 24, 7, 0), time.Hour, at(2026, 11, 24, 10, 0)},
		{"Saturday starts Monday", at(2026, 11, 28, 11, 0), 30 * time.Minute, at(2026, 11, 30, 9, 30)},
		{"to the end of the day", at(2026, 11, 24, 9, 0), 8 * time.Hour, at(2026, 11, 24, 17, 0)},
		{"a holiday is skipped", at(2026, 12, 24, 12, 0), 2 * time.Hour, at(2026, 12, 28, 10, 0)},
		{"a half day ends at one", at(2026, 12, 24, 9, 0), 4 * time.Hour, at(2026, 12, 24, 13, 0)},
		{"across the year end", at(2026, 12, 31, 16, 0), 2 * time.Hour, at(2027, 1, 1, 10, 0)},
		// The clocks go back on 25 October 2026 (a 25-hour Sunday): Friday 16:00 + 2h is
		// Monday 10:00 local, 66 real hours later, not 65.
		{"across the DST night", at(2026, 10, 23, 16, 0), 2 * time.Hour, at(2026, 10, 26, 10, 0)},
	}
	for _, tc := range cases {
		got := c.Add(tc.from, tc.add)
		if !got.Equal(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got.In(london), tc.want)
		}
		if back := c.Between(tc.from, got); back != tc.add && tc.from.Equal(c.Add(tc.from, 0)) {
			t.Errorf("%s: between is %v", tc.name, back)
		}
	}
	if d := at(2026, 10, 26, 10, 0).Sub(at(2026, 10, 23, 16, 0)); d != 67*time.Hour {
		t.Errorf("the DST case spans %v of real time", d)
	}
	if got := c.Between(at(2026, 11, 27, 16, 0), at(2026, 11, 30, 12, 0)); got != 4*time.Hour {
		t.Errorf("Friday 16:00 to Monday 12:00 is %v", got)
	}
	if got := c.Between(at(2026, 11, 28, 0, 0), at(2026, 11, 29, 23, 0)); got != 0 {
		t.Errorf("a weekend holds %v of business time", got)
	}
}

func TestAlways(t *testing.T) {
	var c Calendar
	now := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
	if !c.Add(now, time.Hour).Equal(now.Add(time.Hour)) || c.Between(now, now.Add(90*time.Minute)) != 90*time.Minute {
		t.Error("the zero calendar is wall-clock time")
	}
}

// TestProperty: adding the business time between two instants to the first gives the second,
// and the business time between t and Add(t, d) is d.
func TestProperty(t *testing.T) {
	c := nineToFive()
	c.Holidays = []Holiday{{Date: "2026-12-25"}, {Date: "2027-01-01"}, {Date: "2026-12-24", Half: true}}
	r := rand.New(rand.NewSource(1))
	base := at(2026, 10, 1, 0, 0)
	for i := 0; i < 5000; i++ {
		a := base.Add(time.Duration(r.Int63n(int64(120 * 24 * time.Hour))))
		d := time.Duration(r.Int63n(int64(80 * time.Hour))).Truncate(time.Second)
		b := c.Add(a, d)
		if got := c.Between(a, b); got != d {
			t.Fatalf("Between(%v, Add(%v)) = %v", a, d, got)
		}
		if got := c.Add(a, c.Between(a, b)); !got.Equal(b) && d > 0 {
			t.Fatalf("Add(%v, Between(%v, %v)) = %v", a, a, b, got)
		}
		if b.Before(a) {
			t.Fatalf("Add went backwards")
		}
	}
}

func TestValidate(t *testing.T) {
	bad := Calendar{TimeZone: "Mars/Base", Hours: map[string]string{"mon": "17:00-09:00", "fun": "09:00-17:00"}, Holidays: []Holiday{{Date: "soon"}}}
	if errs := bad.Validate(); len(errs) != 4 {
		t.Errorf("errors: %v", errs)
	}
	if errs := nineToFive().Validate(); len(errs) != 0 {
		t.Errorf("valid calendar: %v", errs)
	}
}
