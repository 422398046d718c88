package catalog

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Money is an amount in minor units (cents), so sums are exact. In YAML and JSON it is written
// as a decimal number or string with at most two decimals: 1200, 19.99, "0.50".
type Money int64

// ParseMoney reads "19.99", "-3", "0.5".
func ParseMoney(s string) (Money, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || (hasFrac && (frac == "" || len(frac) > 2)) {
		return 0, fmt.Errorf("%q is not an amount with at most two decimals", s)
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not an amount with at most two decimals", s)
		}
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > math.MaxInt64/100-1 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	m := Money(w*100 + f)
	if neg {
		m = -m
	}
	return m, nil
}

// MaxMoney bounds every amount a quote works out (in minor units: 10,000,000,000,000.00), well
// inside what float64 holds exactly, so prices never overflow or round.
const MaxMoney Money = 1_000_000_000_000_000

// ErrTooLarge says an amount went beyond MaxMoney.
var ErrTooLarge = fmt.Errorf("the amount is beyond %s", MaxMoney)

// Plus adds n, refusing a sum beyond ±MaxMoney.
func (m Money) Plus(n Money) (Money, error) {
	if m > MaxMoney || m < -MaxMoney || n > MaxMoney || n < -MaxMoney {
		return 0, ErrTooLarge
	}
	s := m + n // both within ±1e15: no int64 overflow
	if s > MaxMoney || s < -MaxMoney {
		return 0, ErrTooLarge
	}
	return s, nil
}

// Times multiplies by x (a quantity, or a priced field's value), rounding to the cent, and
// refuses a product beyond ±MaxMoney (or one that is not a number).
func (m Money) Times(x float64) (Money, error) {
	p := float64(m) * x
	if math.IsNaN(p) || math.IsInf(p, 0) || math.Abs(p) > float64(MaxMoney) {
		return 0, ErrTooLarge
	}
	return Money(math.Round(p)), nil
}

// Float is the amount in currency units, for conditions.
func (m Money) Float() float64 { return float64(m) / 100 }

func (m Money) String() string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// MarshalJSON writes the amount as a JSON number with two decimals.
func (m Money) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalJSON reads a number or a string.
func (m *Money) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := ParseMoney(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// MarshalYAML writes the amount as a string with two decimals.
func (m Money) MarshalYAML() (any, error) { return m.String(), nil }

// UnmarshalYAML reads a number or a string.
func (m *Money) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: an amount must be a number", n.Line)
	}
	v, err := ParseMoney(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*m = v
	return nil
}

var _ json.Marshaler = Money(0)

// Duration is a span written as Go durations plus days and weeks: "90m", "4h", "3d", "2w",
// "1d12h".
type Duration int64 // nanoseconds, like time.Duration

// MaxDuration bounds every duration a definition sets (targets, reminders, periods...): ten
// years, so business-time arithmetic and timers stay far from overflow.
const MaxDuration = Duration(3650 * 24 * time.Hour)

// ParseDuration reads a Duration.
func ParseDuration(s string) (Duration, error) {
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total float64
	for _, unit := range []struct {
		suffix string
		mult   float64
	}{{"w", 7 * 24 * 3600e9}, {"d", 24 * 3600e9}} {
		if i := strings.Index(s, unit.suffix); i >= 0 {
			n, err := strconv.ParseFloat(s[:i], 64)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("%q is not a duration (like 90m, 4h, 3d, 2w)", orig)
			}
			total += n * unit.mult
			s = s[i+1:]
		}
	}
	if s != "" {
		d, err := parseGoDuration(s)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%q is not a duration (like 90m, 4h, 3d, 2w)", orig)
		}
		total += float64(d)
	}
	if total <= 0 {
		return 0, fmt.Errorf("%q must be positive", orig)
	}
	if total > float64(MaxDuration) {
		return 0, fmt.Errorf("%q is longer than %s", orig, MaxDuration)
	}
	return Duration(total), nil
}

func (d Duration) String() string {
	if d == 0 {
		return "0s"
	}
	return formatDuration(d)
}

// MarshalJSON writes the duration in its text form.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads the text form.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string like \"4h\" or \"3d\"")
	}
	if s == "0s" {
		*d = 0
		return nil
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes the text form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads the text form.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration is a string like \"4h\" or \"3d\"", n.Line)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}
