package desk

import (
	"context"
	"fmt"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
)

// Attainment is one service's SLA attainment over a period.
type Attainment = store.Attainment

// SLAReportInput is the period of a report: requests closed in [From, To). No From is 30 days
// ago; no To is now.
type SLAReportInput struct {
	From *time.Time
	To   *time.Time
}

// SLAReport is SLA attainment per service and department over a period (in UTC).
type SLAReport struct {
	From  time.Time
	To    time.Time
	Items []Attainment
}

// SLAReport gives SLA attainment per service and department for the requests closed in a
// period, from the read model. Operators see every department; anyone else sees their own
// department's services.
//
// Errors: *ValidationError (a period whose end is not after its start).
func (d *Desk) SLAReport(ctx context.Context, me Actor, in SLAReportInput) (SLAReport, error) {
	now := d.now()
	from, to := now.Add(-30*24*time.Hour), now
	if in.From != nil {
		from = *in.From
	}
	if in.To != nil {
		to = *in.To
	}
	if !to.After(from) {
		return SLAReport{}, invalid("the period is not valid", catalog.FieldError{Field: "to", Rule: "minimum", Detail: "to must be after from"})
	}
	dept := ""
	if !me.HasRole(catalog.RoleOperator) {
		dept = me.Department
	}
	rows, err := d.store.SLAAttainment(ctx, from, to, dept)
	if err != nil {
		return SLAReport{}, fmt.Errorf("SLA attainment: %w", err)
	}
	return SLAReport{From: from.UTC(), To: to.UTC(), Items: rows}, nil
}
