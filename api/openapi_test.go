package api

import (
	"context"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/esmhq/esm/codec"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// TestOpenAPIMatchesRouter: every route the router serves is in openapi.yaml and every
// operation in openapi.yaml is served. Responses are checked against the document by the
// end-to-end tests (e2e/), which validate every exchange they make.
func TestOpenAPIMatchesRouter(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not valid: %v", err)
	}
	param := regexp.MustCompile(`:([a-z]+)`)
	served := map[string]bool{}
	c, err := codec.Parse(codec.NewKey("test"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range New(Config{Codec: c, Registry: prometheus.NewRegistry()}).Handler().(*gin.Engine).Routes() {
		served[r.Method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	if missing := diff(served, documented); len(missing) > 0 {
		t.Errorf("served but not in openapi.yaml: %v", missing)
	}
	if missing := diff(documented, served); len(missing) > 0 {
		t.Errorf("in openapi.yaml but not served: %v", missing)
	}
}

func diff(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
