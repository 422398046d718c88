package calendar

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

var berlin, _ = time.LoadLocation("Europe/Berlin")

func weekdays9to5(zone string) map[string]string {
	return map[string]string{"mon": "09:00-17:00", "tue": "09:00-17:00", "wed": "09:00-17:00", "thu": "09:00-17:00", "fri": "09:00-17:00"}
}

// The reference lists are written by hand, not computed by the library under test.
//
// Weekdays: 1 January 2030 is a Tuesday, so 25 December 2030 (day 359) is a Wednesday and
// 1 January 2031 a Wednesday. Easter Sunday 2030 is 21 April (the anonymous Gregorian
// algorithm, Meeus: a=16, h=28, l=2, m=0 gives month 4, day 21).
//
// England and Wales (Banking and Financial Dealings Act 1971, Schedule 1, and the gov.uk bank
// holiday list's rules): New Year's Day, Good Friday, Easter Monday, the first and last Mondays
// of May, the last Monday of August, Christmas Day and Boxing Day, each moved to the next
// weekday when it falls on a weekend.
var gb2030 = []string{
	"2030-01-01", // New Year's Day, Tuesday
	"2030-04-19", // Good Friday: Easter 21 April - 2
	"2030-04-22", // Easter Monday
	"2030-05-06", // early May: 1 May 2030 is a Wednesday, first Monday the 6th
	"2030-05-27", // spring: 31 May is a Friday, last Monday the 27th
	"2030-08-26", // summer: 31 August is a Saturday, last Monday the 26th
	"2030-12-25", // Christmas Day, Wednesday
	"2030-12-26", // Boxing Day, Thursday
}

// Berlin (Gesetz über die Sonn- und Feiertage des Landes Berlin, §1): Neujahr, Internationaler
// Frauentag (8 March, since 2019), Karfreitag, Ostermontag, 1. Mai, Christi Himmelfahrt
// (Easter + 39), Pfingstmontag (Easter + 50), Tag der Deutschen Einheit, 1. and 2.
// Weihnachtstag. Heiligabend and Silvester are not public holidays.
var be2030 = []string{
	"2030-01-01", "2030-03-08", "2030-04-19", "2030-04-22", "2030-05-01",
	"2030-05-30", // 21 April + 39
	"2030-06-10", // 21 April + 50
	"2030-10-03", "2030-12-25", "2030-12-26",
}

func dates(hs []RuleHoliday) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, h.Date)
	}
	return out
}

func TestRuleHolidays2030(t *testing.T) {
	uk := Calendar{TimeZone: "Europe/London", Country: "GB"}
	if got := dates(uk.RuleHolidays(2030)); !reflect.DeepEqual(got, gb2030) {
		t.Errorf("GB 2030: got %v, want %v", got, gb2030)
	}
	de := Calendar{TimeZone: "Europe/Berlin", Country: "DE", Region: "BE"}
	if got := dates(de.RuleHolidays(2030)); !reflect.DeepEqual(got, be2030) {
		t.Errorf("DE-BE 2030: got %v, want %v", got, be2030)
	}
	// 2033: Christmas is a Sunday; England and Wales close on its substitute, Tuesday 27th,
	// Boxing Day on Monday 26th (the day itself stays closed too: a Sunday anyway).
	got := dates(uk.RuleHolidays(2033))
	for _, want := range []string{"2033-12-25", "2033-12-26", "2033-12-27"} {
		if !strings.Contains(strings.Join(got, " "), want) {
			t.Errorf("GB 2033 lacks %s: %v", want, got)
		}
	}
	// A removed holiday (by name, every year; by date, that year) stays open.
	de.Removed = []string{"Frauentag", "2030-10-03"}
	if errs := de.Validate(); len(errs) > 0 {
		t.Fatalf("removed names: %v", errs)
	}
	got = dates(de.RuleHolidays(2030))
	if strings.Contains(strings.Join(got, " "), "2030-03-08") || strings.Contains(strings.Join(got, " "), "2030-10-03") {
		t.Errorf("removed holidays still closed: %v", got)
	}
	if !strings.Contains(strings.Join(dates(de.RuleHolidays(2031)), " "), "2031-10-03") {
		t.Errorf("removing 2030-10-03 removed 2031-10-03 too")
	}
}

// TestDueAcrossChristmas2030 is the acceptance case of issue 22: a due date counted across
// Christmas and New Year 2030 on a London and a Berlin calendar, against a hand count.
func TestDueAcrossChristmas2030(t *testing.T) {
	london := Calendar{TimeZone: "Europe/London", Hours: weekdays9to5(""), Country: "GB",
		Holidays: []Holiday{{Date: "12-24", Name: "Christmas Eve", Half: true}}}
	berlinCal := Calendar{TimeZone: "Europe/Berlin", Hours: weekdays9to5(""), Country: "DE", Region: "BE",
		Holidays: []Holiday{{Date: "12-24", Name: "Heiligabend", Half: true}, {Date: "12-31", Name: "Silvester", Half: true}}}
	for _, c := range []Calendar{london, berlinCal} {
		if errs := c.Validate(); len(errs) > 0 {
			t.Fatalf("%s: %v", c.TimeZone, errs)
		}
	}
	// London, from Monday 23 December 2030 16:00 plus 32 business hours:
	//   Mon 23: 16-17 1h (1); Tue 24 half day 09-13 4h (5); Wed 25, Thu 26 bank holidays;
	//   Fri 27 8h (13); Mon 30 8h (21); Tue 31 8h (29); Wed 1 Jan 2031 bank holiday;
	//   Thu 2 Jan 3h -> 12:00.
	from := time.Date(2030, 12, 23, 16, 0, 0, 0, time.UTC) // London is on GMT in December
	want := time.Date(2031, 1, 2, 12, 0, 0, 0, time.UTC)
	if got := london.Add(from, 32*time.Hour); !got.Equal(want) {
		t.Errorf("London: got %v, want %v", got, want)
	}
	if got := london.Between(from, want); got != 32*time.Hour {
		t.Errorf("London between: %v", got)
	}
	// Berlin, from Monday 23 December 2030 16:00 CET plus 32 business hours:
	//   Mon 23 1h (1); Tue 24 Heiligabend half 4h (5); Wed 25, Thu 26 Weihnachtstage;
	//   Fri 27 8h (13); Mon 30 8h (21); Tue 31 Silvester half 4h (25); Wed 1 Jan Neujahr;
	//   Thu 2 Jan 7h -> 16:00.
	fromB := time.Date(2030, 12, 23, 16, 0, 0, 0, berlin)
	wantB := time.Date(2031, 1, 2, 16, 0, 0, 0, berlin)
	if got := berlinCal.Add(fromB, 32*time.Hour); !got.Equal(wantB) {
		t.Errorf("Berlin: got %v, want %v", got.In(berlin), wantB)
	}
	if got := berlinCal.Between(fromB, wantB); got != 32*time.Hour {
		t.Errorf("Berlin between: %v", got)
	}
	// Open on Christmas morning is the next working day's opening, Friday 27th.
	if got := berlinCal.Open(time.Date(2030, 12, 25, 10, 0, 0, 0, berlin)); !got.Equal(time.Date(2030, 12, 27, 9, 0, 0, 0, berlin)) {
		t.Errorf("Berlin open on Christmas: %v", got)
	}
}

func TestRuleValidate(t *testing.T) {
	cases := []struct {
		c    Calendar
		want string
	}{
		{Calendar{Country: "XX"}, "country:"},
		{Calendar{Country: "DE", Region: "ZZ"}, "region: DE has no region"},
		{Calendar{Region: "BE"}, "region: a region needs a country"},
		{Calendar{Country: "GB", Removed: []string{"Frauentag"}}, "removed[0]:"},
		{Calendar{Holidays: []Holiday{{Date: "24-12"}}}, "holidays[0].date:"},
	}
	for _, tc := range cases {
		errs := strings.Join(tc.c.Validate(), "; ")
		if !strings.Contains(errs, tc.want) {
			t.Errorf("%+v: got %q, want %q", tc.c, errs, tc.want)
		}
	}
	if errs := (Calendar{Country: "gb"}).Validate(); len(errs) > 0 {
		t.Errorf("lower case country: %v", errs)
	}
}
