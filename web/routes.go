package web

import "net/http"

// requesterRoutes: the catalog, a service's page, its form and its live quote, my requests, a
// request's page and its live part, its files (add, download), out-of-office delegations, my preferences.
func (p *Portal) requesterRoutes(mux *http.ServeMux) {
	mux.Handle("GET "+Base+"/catalog", p.authed(p.catalog))
	mux.Handle("GET "+Base+"/services/{key}", p.authed(p.service))
	mux.Handle("POST "+Base+"/services/{key}", p.authed(p.submit))
	mux.Handle("POST "+Base+"/services/{key}/quote", p.authed(p.quote))
	mux.Handle("GET "+Base+"/requests", p.authed(p.requests))
	mux.Handle("GET "+Base+"/requests/{id}", p.authed(p.request))
	mux.Handle("GET "+Base+"/requests/{id}/live", p.liveAuthed(p.live))
	mux.Handle("POST "+Base+"/requests/{id}/comment", p.authed(p.comment))
	mux.Handle("POST "+Base+"/requests/{id}/withdraw", p.authed(p.withdraw))
	mux.Handle("POST "+Base+"/requests/{id}/files", p.authed(p.attach))
	mux.Handle("GET "+Base+"/requests/{id}/files/{file}", p.authed(p.download))
	mux.Handle("GET "+Base+"/delegations", p.authed(p.delegations))
	mux.Handle("POST "+Base+"/delegations", p.authed(p.delegate))
	mux.Handle("POST "+Base+"/delegations/{id}/end", p.authed(p.endDelegation))
	mux.Handle("GET "+Base+"/preferences", p.authed(p.preferences))
	mux.Handle("POST "+Base+"/preferences", p.authed(p.setPreferences))
}
