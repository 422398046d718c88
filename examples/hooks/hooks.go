// Package hooks is the demo automation endpoint the example catalog's automated tasks call: an
// HTTP receiver that applies each Idempotency-Key once (a repeated call gets the first answer),
// counts deliveries, and undoes on DELETE. `esm dev` serves it; tests use it to prove that every
// side effect happens once.
package hooks

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// Receiver records calls by idempotency key.
type Receiver struct {
	mu         sync.Mutex
	answers    map[string]map[string]any // key -> first answer
	deliveries map[string]int            // key -> calls seen
	applied    map[string]int            // key -> times applied (one, if idempotency holds)
	undone     map[string]int            // resource id -> times undone
	next       int
	// FailFirst makes the first n deliveries of every key answer 503, to exercise retries.
	FailFirst int
}

// New returns an empty receiver.
func New() *Receiver {
	return &Receiver{answers: map[string]map[string]any{}, deliveries: map[string]int{}, applied: map[string]int{}, undone: map[string]int{}}
}

// ServeHTTP answers POST /hooks/<kind> with {"id": "<kind>-<n>", ...} and DELETE
// /hooks/<kind>/<id> with 204. POST /hooks/signed-letters also carries a file, as a document
// service would: {"files": [{"name": "letter.pdf", "kind": "signed_letter", "content_base64":
// ...}]}, a small PDF naming the idempotency key (SignedLetter).
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	parts := strings.Split(strings.Trim(strings.TrimPrefix(req.URL.Path, "/hooks"), "/"), "/")
	key := req.Header.Get("Idempotency-Key")
	if key == "" || parts[0] == "" {
		http.Error(w, `{"error":"send an Idempotency-Key to /hooks/<kind>"}`, http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deliveries[key]++
	if r.deliveries[key] <= r.FailFirst {
		http.Error(w, `{"error":"try again"}`, http.StatusServiceUnavailable)
		return
	}
	if prev, ok := r.answers[key]; ok {
		writeJSON(w, http.StatusOK, prev)
		return
	}
	var answer map[string]any
	switch req.Method {
	case http.MethodPost, http.MethodPut:
		var body map[string]any
		_ = json.NewDecoder(req.Body).Decode(&body)
		r.next++
		answer = map[string]any{"id": fmt.Sprintf("%s-%04d", parts[0], r.next), "received": body}
		if parts[0] == "signed-letters" {
			answer["files"] = []any{map[string]any{"name": "letter.pdf", "kind": "signed_letter",
				"content_base64": base64.StdEncoding.EncodeToString(SignedLetter(key))}}
		}
	case http.MethodDelete:
		if len(parts) < 2 {
			http.Error(w, `{"error":"DELETE /hooks/<kind>/<id>"}`, http.StatusBadRequest)
			return
		}
		r.undone[parts[1]]++
		answer = map[string]any{"undone": parts[1]}
	default:
		http.Error(w, `{"error":"method not allowed"}`, http.StatusMethodNotAllowed)
		return
	}
	r.applied[key]++
	r.answers[key] = answer
	writeJSON(w, http.StatusCreated, answer)
}

// SignedLetter is the PDF POST /hooks/signed-letters answers for an idempotency key.
func SignedLetter(key string) []byte {
	return []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% Letter " + key + ", signed by the demo document service\ntrailer << /Root 1 0 R >>\n%%EOF\n")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Stats is what the receiver saw.
type Stats struct {
	Keys       int            // distinct idempotency keys
	Deliveries int            // calls, retries included
	Applied    map[string]int // key -> times applied
	Undone     map[string]int // resource id -> times undone
}

// Stats returns a copy of the counters.
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Stats{Keys: len(r.applied), Applied: map[string]int{}, Undone: map[string]int{}}
	for k, n := range r.deliveries {
		s.Deliveries += n
		_ = k
	}
	for k, n := range r.applied {
		s.Applied[k] = n
	}
	for k, n := range r.undone {
		s.Undone[k] = n
	}
	return s
}
