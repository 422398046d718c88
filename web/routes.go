package web

import "net/http"

// requesterRoutes: the catalog, a service's page and its form, my requests, a request's page.
func (p *Portal) requesterRoutes(mux *http.ServeMux) {
	mux.Handle("GET "+Base+"/catalog", p.authed(p.catalog))
	mux.Handle("GET "+Base+"/services/{key}", p.authed(p.service))
	mux.Handle("POST "+Base+"/services/{key}", p.authed(p.submit))
	mux.Handle("GET "+Base+"/requests", p.authed(p.requests))
	mux.Handle("GET "+Base+"/requests/{id}", p.authed(p.request))
	mux.Handle("POST "+Base+"/requests/{id}/comment", p.authed(p.comment))
	mux.Handle("POST "+Base+"/requests/{id}/withdraw", p.authed(p.withdraw))
}
