package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/esmhq/esm/catalog"
	"github.com/gin-gonic/gin"
)

// bodies are every JSON body the API takes.
func bodies() map[string]func() any {
	return map[string]func() any{
		"submit":     func() any { return &submitBody{} },
		"quote":      func() any { return &quoteBody{} },
		"decision":   func() any { return &decisionBody{} },
		"cancel":     func() any { return &cancelBody{} },
		"comment":    func() any { return &commentBody{} },
		"task":       func() any { return &taskBody{} },
		"delegation": func() any { return &delegationBody{} },
		"lifecycle":  func() any { return &lifecycleBody{} },
		"definition": func() any { return &catalog.Definition{} },
	}
}

// FuzzBodies feeds arbitrary bytes to the decoder of every JSON body: never a panic; a refusal is
// a 4xx problem that says what is wrong; a definition that decodes is validated without a panic,
// and its errors name a field and a rule.
func FuzzBodies(f *testing.F) {
	for _, seed := range []string{`{"service":"laptop","form":{"model":"standard-14"}}`, `{"decision":"approve"}`,
		`{"outputs":{"a":[1,2,{"b":null}]}}`, `{"delegate":"carol","ends_at":"2030-01-01T00:00:00Z"}`,
		`{"key":"x","name":"X","department":"it","owner":"o","request":{"form":{"type":"object"}},"fulfilment":{"tasks":[{"id":"t","name":"T","group":"g"}]}}`,
		`{"quantity":1e999}`, `{"form":"x"}`, `[1,2]`, `{"a":1}{"b":2}`, "\x00", `{"service":"\u0000"}`} {
		f.Add(seed)
	}
	gin.SetMode(gin.ReleaseMode)
	f.Fuzz(func(t *testing.T, body string) {
		for name, mk := range bodies() {
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader([]byte(body)))
			c.Request.Header.Set("Content-Type", "application/json")
			v := mk()
			p := decodeBody(c, v)
			if p != nil {
				if p.Status < 400 || p.Status >= 500 || p.Type == "" || p.Detail == "" {
					t.Fatalf("%s: a refusal that is not a clear 4xx: %+v", name, p)
				}
				if p.Status == http.StatusUnprocessableEntity && len(p.Errors) == 0 {
					t.Fatalf("%s: a 422 naming no field", name)
				}
				continue
			}
			if d, ok := v.(*catalog.Definition); ok {
				if err := catalog.ValidateWith(*d, catalog.Known{}); err != nil {
					for _, fe := range err.(*catalog.ValidationError).Errors {
						if fe.Field == "" || fe.Rule == "" {
							t.Fatalf("a definition error without field or rule: %+v", fe)
						}
					}
				}
			}
			if _, err := json.Marshal(v); err != nil {
				t.Fatalf("%s: decoded into something that does not encode: %v", name, err)
			}
		}
	})
}

// FuzzForm validates arbitrary JSON forms against the example laptop form: never a panic; every
// error is a JSON pointer and a rule.
func FuzzForm(f *testing.F) {
	b, err := catalog.Load("../examples")
	if err != nil {
		f.Fatal(err)
	}
	var forms []*catalog.Form
	for _, d := range b.Services {
		form, err := catalog.CompileForm(d.Request.Form)
		if err != nil {
			f.Fatal(err)
		}
		forms = append(forms, form)
	}
	f.Add(`{"model":"standard-14","reason":"a good reason"}`)
	f.Add(`{"amount":1e308,"zones":["lab","lab"]}`)
	f.Fuzz(func(t *testing.T, body string) {
		var m map[string]any
		if json.Unmarshal([]byte(body), &m) != nil {
			return
		}
		for _, form := range forms {
			for _, fe := range form.Validate(m) {
				if fe.Rule == "" || (fe.Field != "" && fe.Field[0] != '/') {
					t.Fatalf("an error that is not a pointer and a rule: %+v", fe)
				}
			}
		}
	})
}
