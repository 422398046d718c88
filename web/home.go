package web

import (
	"net/http"

	"github.com/esmhq/esm/desk"
)

// home: my requests (the open ones first) and what waits on me.
func (p *Portal) home(w http.ResponseWriter, r *http.Request) {
	me := actor(r)
	mine, err := p.desk.Requests(r.Context(), me, desk.RequestsInput{Limit: 20})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	inbox, err := p.desk.Approvals(r.Context(), me, desk.ApprovalsInput{Limit: 10})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "home", map[string]any{"Requests": mine.Items, "Approvals": inbox.Items})
}
