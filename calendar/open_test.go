package calendar

import (
	"testing"
	"time"
)

func TestOpen(t *testing.T) {
	c := Calendar{TimeZone: "Europe/London", Hours: map[string]string{"mon": "09:00-17:00", "tue": "09:00-17:00", "fri": "09:00-17:00"},
		Holidays: []Holiday{{Date: "2026-03-03", Name: "closed"}, {Date: "2026-03-06", Half: true}}}
	london, _ := time.LoadLocation("Europe/London")
	at := func(d, hm string) time.Time {
		t, err := time.ParseInLocation("2006-01-02 15:04", d+" "+hm, london)
		if err != nil {
			panic(err)
		}
		return t
	}
	for _, tc := range []struct{ at, want time.Time }{
		{at("2026-03-02", "02:00"), at("2026-03-02", "09:00")}, // Monday night: opening
		{at("2026-03-02", "10:30"), at("2026-03-02", "10:30")}, // open: at once
		{at("2026-03-02", "17:00"), at("2026-03-06", "09:00")}, // closing; Tuesday a holiday, Wed/Thu closed
		{at("2026-03-06", "13:30"), at("2026-03-09", "09:00")}, // a half day closes at 13:00
		{at("2026-03-06", "12:59"), at("2026-03-06", "12:59")},
	} {
		if got := c.Open(tc.at); !got.Equal(tc.want) {
			t.Errorf("Open(%s) = %s, want %s", tc.at, got, tc.want)
		}
	}
	if got := (Calendar{}).Open(at("2026-03-02", "02:00")); !got.Equal(at("2026-03-02", "02:00")) {
		t.Errorf("24x7: %s", got)
	}
	if o, ok := c.Opening(at("2026-03-02", "23:00")); !ok || !o.Equal(at("2026-03-02", "09:00")) {
		t.Errorf("Opening: %s %v", o, ok)
	}
	if _, ok := c.Opening(at("2026-03-03", "10:00")); ok {
		t.Errorf("a holiday has no opening")
	}
}
