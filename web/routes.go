package web

import "net/http"

// requesterRoutes: the catalog, a service's page and its form, my requests, a request's page.
func (p *Portal) requesterRoutes(mux *http.ServeMux) {
}
