package web

import (
	"context"
	"net/http"

	"github.com/esmhq/esm/desk"
)

// home: my open requests, the questions waiting on my answer, my approvals and my groups' tasks
// (desk.Home).
func (p *Portal) home(w http.ResponseWriter, r *http.Request) {
	h, err := p.desk.Home(r.Context(), actor(r))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "home", map[string]any{"H": h, "Names": p.principals(r.Context(), h.Approvals)})
}

// principals names the people whose approvals a delegate holds, by id (the id itself when the
// directory does not answer): the "for Bob" of a delegated approval.
func (p *Portal) principals(ctx context.Context, items []desk.PendingApproval) map[string]string {
	names := map[string]string{}
	for _, a := range items {
		if a.OnBehalfOf != "" && names[a.OnBehalfOf] == "" {
			names[a.OnBehalfOf] = a.OnBehalfOf
			if who, err := p.dir.Person(ctx, a.OnBehalfOf); err == nil {
				names[a.OnBehalfOf] = who.Name
			}
		}
	}
	return names
}
