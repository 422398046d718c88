package store

import "github.com/esmhq/esm/catalog"

// SLA outcomes of a closed request, as attainment counts them.
const (
	SLAMet      = "met"      // resolved within its resolution target
	SLAMissed   = "missed"   // its resolution clock breached (whatever the end), or it failed
	SLAExcluded = "excluded" // rejected or cancelled before breaching: the clock had no verdict
)

// SLAOutcome is what a request counts for in SLA attainment: "" while it is open or when it
// ran no clocks; otherwise the verdict of its resolution clock, once. A request closed while it
// waited on the requester counts like any other (its clock kept the time spent). The migration
// that added requests.sla_outcome derives old rows by the same rule, in SQL.
func SLAOutcome(r catalog.RequestState) string {
	if r.ClosedAt == nil {
		return ""
	}
	for _, c := range r.SLA {
		if c.Name != catalog.ClockResolution {
			continue
		}
		switch {
		case c.Breached || (c.Met != nil && !*c.Met):
			return SLAMissed
		case r.Status == catalog.StatusResolved:
			return SLAMet
		case r.Status == catalog.StatusFailed:
			return SLAMissed
		}
		return SLAExcluded
	}
	return ""
}

// nullString is s, or NULL when it is empty.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
