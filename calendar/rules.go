package calendar

import (
	"fmt"
	"sort"
	"strings"
	"time"

	cal "github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/de"
	"github.com/rickar/cal/v2/gb"
)

// Holiday rules come from github.com/rickar/cal/v2 (the version go.mod pins): a calendar that
// names a Country (and a Region where the library has regional lists) closes on that list's
// holidays in every year, computed from the rule (Easter offsets, "first Monday of May",
// weekend substitutes), never from a typed list of dates. The rule is what a request pins:
// the Calendar value travels in the request's input, so a workflow computes the same days on
// replay, on any worker, in any year. Upgrading the library is a code change like any other
// (its rules are reviewed in the upgrade, see docs/DESIGN-NOTES.md).

// rules maps a country (ISO 3166-1 alpha-2) to its regions (ISO 3166-2 subdivision code
// without the country prefix, "" for the national list) and each region's holiday list.
var rules = map[string]map[string][]*cal.Holiday{
	// gb.Holidays is the England and Wales list (the library has no separate Scotland or
	// Northern Ireland list); "ENG" and "WLS" name it explicitly.
	"GB": {"": gb.Holidays, "ENG": gb.Holidays, "WLS": gb.Holidays},
	"DE": {
		"": de.Holidays, "BW": de.HolidaysBW, "BY": de.HolidaysBY, "BE": de.HolidaysBE,
		"BB": de.HolidaysBB, "HB": de.HolidaysHB, "HH": de.HolidaysHH, "HE": de.HolidaysHE,
		"MV": de.HolidaysMV, "NI": de.HolidaysNI, "NW": de.HolidaysNW, "RP": de.HolidaysRP,
		"SL": de.HolidaysSL, "SN": de.HolidaysSN, "ST": de.HolidaysST, "SH": de.HolidaysSH,
		"TH": de.HolidaysTH,
	},
}

// Countries lists the country codes a calendar may name, sorted.
func Countries() []string {
	out := make([]string, 0, len(rules))
	for k := range rules {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func regionsOf(country string) []string {
	out := []string{}
	for k := range rules[country] {
		if k != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// list is the library's holiday list for the calendar's country and region (nil without a
// country, or for one Validate refuses).
func (c Calendar) list() []*cal.Holiday {
	if c.Country == "" {
		return nil
	}
	return rules[strings.ToUpper(c.Country)][strings.ToUpper(c.Region)]
}

// validateRule checks country, region and removed; errors name the field.
func (c Calendar) validateRule() []string {
	var errs []string
	if c.Country == "" {
		if c.Region != "" {
			errs = append(errs, "region: a region needs a country")
		}
		if len(c.Removed) > 0 {
			errs = append(errs, "removed: removing holidays needs a country")
		}
		return errs
	}
	regions, ok := rules[strings.ToUpper(c.Country)]
	if !ok {
		return append(errs, fmt.Sprintf("country: %q has no holiday rules here; one of %v", c.Country, Countries()))
	}
	if _, ok := regions[strings.ToUpper(c.Region)]; !ok {
		errs = append(errs, fmt.Sprintf("region: %s has no region %q; one of %v (or none for the national list)",
			strings.ToUpper(c.Country), c.Region, regionsOf(strings.ToUpper(c.Country))))
		return errs
	}
	names := map[string]bool{}
	for _, h := range c.list() {
		names[h.Name] = true
	}
	for i, r := range c.Removed {
		if _, err := time.Parse(time.DateOnly, r); err == nil {
			continue
		}
		if !names[r] {
			known := make([]string, 0, len(names))
			for n := range names {
				known = append(known, n)
			}
			sort.Strings(known)
			errs = append(errs, fmt.Sprintf("removed[%d]: %q is neither a date (YYYY-MM-DD) nor a holiday of the %s list %v", i, r, c.ruleName(), known))
		}
	}
	return errs
}

func (c Calendar) ruleName() string {
	if c.Region == "" {
		return strings.ToUpper(c.Country)
	}
	return strings.ToUpper(c.Country) + "-" + strings.ToUpper(c.Region)
}

// RuleHoliday is one day the calendar's country rule closes.
type RuleHoliday struct {
	Date string // YYYY-MM-DD
	Name string // the library's name, in the country's language ("Boxing Day", "Zweiter Weihnachtsfeiertag")
}

// RuleHolidays returns the days the country rule closes in year, in date order: each holiday's
// own date and, where the library moves it off a weekend, its substitute day; less the
// calendar's Removed names and dates. Empty without a country.
func (c Calendar) RuleHolidays(year int) []RuleHoliday {
	removed := map[string]bool{}
	for _, r := range c.Removed {
		removed[r] = true
	}
	seen := map[string]bool{}
	var out []RuleHoliday
	for _, h := range c.list() {
		if removed[h.Name] {
			continue
		}
		// Calc returns midnight in cal.DefaultLoc; only the year, month and day are read, so
		// the worker's local zone does not change the answer.
		actual, observed := h.Calc(year)
		for _, t := range []time.Time{actual, observed} {
			if t.IsZero() {
				continue
			}
			d := fmt.Sprintf("%04d-%02d-%02d", t.Year(), t.Month(), t.Day())
			if removed[d] || seen[d] {
				continue
			}
			seen[d] = true
			out = append(out, RuleHoliday{Date: d, Name: h.Name})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Date < out[j].Date })
	return out
}

// ruleClosed reports whether the country rule closes the local date iso (YYYY-MM-DD) of year.
func (c Calendar) ruleClosed(year int, iso string) bool {
	if c.Country == "" {
		return false
	}
	for _, h := range c.RuleHolidays(year) {
		if h.Date == iso {
			return true
		}
	}
	return false
}
