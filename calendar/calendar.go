// Package calendar is business-time arithmetic on a department's calendar: working hours per
// weekday in a time zone, minus holidays (whole or half days): a country's (and region's)
// public holidays computed for any year by github.com/rickar/cal/v2 (rules.go), less the ones
// the department removes, plus its own closures. Pure functions: workflows call
// them directly. Instants are computed with time.Date in the calendar's zone, so days that are
// 23 or 25 hours long (DST changes) are counted right.
package calendar

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	// Every binary and test that counts business time carries the zone database itself, so two
	// workers on machines with different (or no) system zone data never disagree on an instant.
	_ "time/tzdata"
)

// Calendar is a department's business calendar. The zero Calendar counts every instant (24x7).
type Calendar struct {
	TimeZone string `yaml:"timezone,omitempty" json:"timezone,omitempty"`
	// Hours maps a weekday (mon..sun) to its working hours, "09:00-17:00". A day not listed is
	// not a working day.
	Hours map[string]string `yaml:"hours,omitempty" json:"hours,omitempty"`
	// Holidays are the department's own closures on top of the country's (a closure on a
	// date the country rule already closes changes nothing: the whole day stays closed).
	Holidays []Holiday `yaml:"holidays,omitempty" json:"holidays,omitempty"`
	// Country (ISO 3166-1 alpha-2: GB, DE) closes on that country's public holidays in every
	// year, as github.com/rickar/cal/v2 computes them; Region (ISO 3166-2 subdivision without
	// the country: BE for Berlin) picks a regional list where the library has one. Empty: no
	// public holidays beyond Holidays.
	Country string `yaml:"country,omitempty" json:"country,omitempty"`
	Region  string `yaml:"region,omitempty" json:"region,omitempty"`
	// Removed are the country's holidays the department works on: a holiday's name in the
	// library's list ("Frauentag": every year) or a date (YYYY-MM-DD: that year only).
	Removed []string `yaml:"removed,omitempty" json:"removed,omitempty"`
}

// Holiday is a day off; Half keeps only the first half of the day's hours.
type Holiday struct {
	// Date is YYYY-MM-DD for one day, or MM-DD for the same day every year (Christmas Eve).
	Date string `yaml:"date" json:"date"`
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	Half bool   `yaml:"half,omitempty" json:"half,omitempty"`
}

var (
	weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	spanPat  = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$`)
)

// Always is the calendar of wall-clock time.
func (c Calendar) Always() bool { return len(c.Hours) == 0 }

// Validate checks the calendar; errors name the field.
func (c Calendar) Validate() []string {
	var errs []string
	if _, err := c.Location(); err != nil {
		errs = append(errs, "timezone: "+err.Error())
	}
	keys := make([]string, 0, len(c.Hours))
	for k := range c.Hours {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, day := range keys {
		span := c.Hours[day]
		if !contains(weekdays, day) {
			errs = append(errs, fmt.Sprintf("hours.%s: a day is one of %v", day, weekdays))
		}
		m := spanPat.FindStringSubmatch(span)
		if m == nil || m[1]+m[2] >= m[3]+m[4] {
			errs = append(errs, fmt.Sprintf("hours.%s: working hours are HH:MM-HH:MM, start before end (%q)", day, span))
		}
	}
	for i, h := range c.Holidays {
		_, err := time.Parse(time.DateOnly, h.Date)
		if _, err2 := time.Parse("01-02", h.Date); err != nil && (err2 != nil || len(h.Date) != 5) {
			errs = append(errs, fmt.Sprintf("holidays[%d].date: a date is YYYY-MM-DD, or MM-DD for every year (%q)", i, h.Date))
		}
	}
	return append(errs, c.validateRule()...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Location is the calendar's time zone; an unknown zone (or none, for a calendar with working
// hours) is an error, never UTC.
func (c Calendar) Location() (*time.Location, error) {
	if c.TimeZone == "" && !c.Always() {
		return nil, fmt.Errorf("a calendar with working hours needs a time zone")
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", c.TimeZone)
	}
	return loc, nil
}

// location is the calendar's zone for arithmetic. Validate refuses an unknown zone where a
// calendar is loaded (catalog apply) and the zone database is embedded, so a zone that was
// accepted once is known to every process; UTC is only the zone of a 24x7 calendar.
func (c Calendar) location() *time.Location {
	loc, err := c.Location()
	if err != nil {
		return time.UTC
	}
	return loc
}

// day returns the working interval of the local date y-m-d, if it is a working day.
func (c Calendar) day(y int, m time.Month, d int, loc *time.Location) (start, end time.Time, ok bool) {
	date := time.Date(y, m, d, 12, 0, 0, 0, loc)
	span, ok := c.Hours[weekdays[date.Weekday()]]
	if !ok {
		return start, end, false
	}
	var sh, sm, eh, em int
	if _, err := fmt.Sscanf(strings.Replace(span, "-", " ", 1), "%d:%d %d:%d", &sh, &sm, &eh, &em); err != nil {
		return start, end, false
	}
	start = time.Date(y, m, d, sh, sm, 0, 0, loc)
	end = time.Date(y, m, d, eh, em, 0, 0, loc)
	iso := date.Format(time.DateOnly)
	if c.ruleClosed(date.Year(), iso) {
		return start, end, false
	}
	for _, h := range c.Holidays {
		if h.Date != iso && h.Date != iso[5:] {
			continue
		}
		if !h.Half {
			return start, end, false
		}
		end = start.Add(end.Sub(start) / 2)
	}
	return start, end, end.After(start)
}

// maxDays bounds the walk: a calendar with no working day in ten years is broken.
const maxDays = 3660

// Add returns the instant d of business time after t.
func (c Calendar) Add(t time.Time, d time.Duration) time.Time {
	if c.Always() {
		return t.Add(d)
	}
	if d <= 0 {
		return t
	}
	loc := c.location()
	lt := t.In(loc)
	for i := 0; i < maxDays; i++ {
		start, end, ok := c.day(lt.Year(), lt.Month(), lt.Day()+i, loc)
		if !ok || !end.After(t) {
			continue
		}
		from := start
		if t.After(from) {
			from = t
		}
		if avail := end.Sub(from); d <= avail {
			return from.Add(d)
		} else {
			d -= avail
		}
	}
	return t.Add(maxDays * 24 * time.Hour)
}

// Between returns the business time from a to b (zero if b is not after a).
func (c Calendar) Between(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	if c.Always() {
		return b.Sub(a)
	}
	loc := c.location()
	la := a.In(loc)
	var total time.Duration
	for i := 0; i < maxDays; i++ {
		start, end, ok := c.day(la.Year(), la.Month(), la.Day()+i, loc)
		if start.After(b) && ok {
			break
		}
		if !ok {
			if time.Date(la.Year(), la.Month(), la.Day()+i, 0, 0, 0, 0, loc).After(b) {
				break
			}
			continue
		}
		from, to := start, end
		if a.After(from) {
			from = a
		}
		if b.Before(to) {
			to = b
		}
		if to.After(from) {
			total += to.Sub(from)
		}
	}
	return total
}

// Open returns the first instant at or after t inside working hours: t itself when the
// calendar is open at t (or is 24x7), else the next working day's opening (holidays skipped,
// a half day's shortened hours kept). Reminders to people wait for it (docs/NOTIFICATIONS.md).
func (c Calendar) Open(t time.Time) time.Time {
	if c.Always() {
		return t
	}
	loc := c.location()
	lt := t.In(loc)
	for i := 0; i < maxDays; i++ {
		start, end, ok := c.day(lt.Year(), lt.Month(), lt.Day()+i, loc)
		if !ok || !end.After(t) {
			continue
		}
		if t.After(start) {
			return t
		}
		return start
	}
	return t
}

// Opening returns the opening instant of t's local working day in the calendar (t's date in
// its zone) and whether that day is a working day. A 24x7 calendar opens at midnight (UTC
// unless it names a zone).
func (c Calendar) Opening(t time.Time) (time.Time, bool) {
	loc := c.location()
	lt := t.In(loc)
	if c.Always() {
		return time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc), true
	}
	start, _, ok := c.day(lt.Year(), lt.Month(), lt.Day(), loc)
	return start, ok
}
