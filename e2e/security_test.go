package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/api"
	"github.com/esmhq/esm/workflows"
	"github.com/golang-jwt/jwt/v5"
	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// TestPayloadsEncrypted: the request's history, read raw from the server, holds no form field
// in clear text; the codec endpoint decodes it for an operator and for nobody else.
func TestPayloadsEncrypted(t *testing.T) {
	e := newEnv(t, "sqlite")
	const secretReason = "my-very-private-reason-4711"
	r := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "laptop",
		"form": map[string]any{"model": "standard-14", "reason": secretReason}})
	if r.Status != http.StatusCreated {
		t.Fatalf("submit: %d %s", r.Status, r.Raw)
	}
	id := r.Body["id"].(string)
	e.call("POST", "/v1/requests/"+id+"/comments", "alice", map[string]any{"text": "comment-" + secretReason})

	// Every payload of every event, raw as the server stores it.
	var payloads []*commonpb.Payload
	h, err := historyOf(context.Background(), e.tc, workflows.RequestWorkflowID(id), "")
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	for _, ev := range h.GetEvents() {
		b, _ := proto.Marshal(ev)
		raw.Write(b)
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			payloads = append(payloads, a.GetInput().GetPayloads()...)
		}
	}
	if raw.Len() == 0 || len(payloads) == 0 {
		t.Fatal("no history")
	}
	for _, needle := range []string{secretReason, "standard-14", "Alice Chen"} {
		if bytes.Contains(raw.Bytes(), []byte(needle)) {
			t.Errorf("%q is in the raw history in clear text", needle)
		}
	}

	// The UI's codec call, with an operator's token: decoded.
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: payloads})
	decode := func(who string) (int, []byte) {
		req, _ := http.NewRequest("POST", e.url+"/codec/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "http://ui.test")
		if who != "" {
			req.Header.Set("Authorization", "Bearer "+e.token(who))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		if who == "oscar" && resp.Header.Get("Access-Control-Allow-Origin") != "http://ui.test" {
			t.Errorf("no CORS for the UI's origin")
		}
		return resp.StatusCode, buf.Bytes()
	}
	status, out := decode("oscar")
	if status != http.StatusOK {
		t.Fatalf("operator decode: %d %s", status, out)
	}
	var decoded struct {
		Payloads []struct {
			Data string `json:"data"`
		} `json:"payloads"`
	}
	if err := json.Unmarshal(out, &decoded); err != nil || len(decoded.Payloads) == 0 {
		t.Fatalf("decoded: %v %s", err, out)
	}
	plain, _ := base64.StdEncoding.DecodeString(decoded.Payloads[0].Data)
	if !strings.Contains(string(plain), secretReason) {
		t.Errorf("the operator does not see the form decoded: %s", plain)
	}
	if status, _ := decode("alice"); status != http.StatusForbidden {
		t.Errorf("a requester decoding: %d", status)
	}
	if status, _ := decode(""); status != http.StatusUnauthorized {
		t.Errorf("decoding without a token: %d", status)
	}
}

// TestHostileTokens: expired, wrongly signed, wrong-audience, wrong-issuer, not-yet-valid and
// alg none tokens are refused with 401.
func TestHostileTokens(t *testing.T) {
	e := newEnv(t, "sqlite")
	now := time.Now()
	claims := func(mod func(*jwt.RegisteredClaims)) jwt.RegisteredClaims {
		c := jwt.RegisteredClaims{Issuer: api.TokenIssuer, Subject: "alice", Audience: jwt.ClaimStrings{api.TokenAudience},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}
		mod(&c)
		return c
	}
	sign := func(c jwt.RegisteredClaims, key []byte) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(func(*jwt.RegisteredClaims) {})).SignedString(jwt.UnsafeAllowNoneSignatureType)
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, claims(func(*jwt.RegisteredClaims) {})).SignedString(secret)
	cases := map[string]string{
		"expired":        sign(claims(func(c *jwt.RegisteredClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour)) }), secret),
		"no expiry":      sign(claims(func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil }), secret),
		"not yet valid":  sign(claims(func(c *jwt.RegisteredClaims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) }), secret),
		"wrong audience": sign(claims(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"someone-else"} }), secret),
		"wrong issuer":   sign(claims(func(c *jwt.RegisteredClaims) { c.Issuer = "evil" }), secret),
		"wrong key":      sign(claims(func(*jwt.RegisteredClaims) {}), []byte("not-the-secret-at-all-0000")),
		"alg none":       none,
		"other alg":      hs512,
		"no subject":     sign(claims(func(c *jwt.RegisteredClaims) { c.Subject = "" }), secret),
	}
	for name, tok := range cases {
		if r := e.call("GET", "/v1/requests", "", nil, "Authorization", "Bearer "+tok); r.Status != http.StatusUnauthorized {
			t.Errorf("%s: %d %s", name, r.Status, r.Raw)
		}
	}
	if r := e.call("GET", "/v1/requests", "", nil, "Authorization", "Bearer "+sign(claims(func(*jwt.RegisteredClaims) {}), secret)); r.Status != http.StatusOK {
		t.Errorf("a good token: %d", r.Status)
	}
}

// TestIdempotentCalls: a decision or a comment sent twice with one Idempotency-Key happens once
// and the repeat gets the first answer; the key with another body is refused.
func TestIdempotentCalls(t *testing.T) {
	e := newEnv(t, "sqlite")
	id := submitLaptop(t, e, "alice")
	comment := map[string]any{"text": "any news?"}
	first := e.call("POST", "/v1/requests/"+id+"/comments", "alice", comment, "Idempotency-Key", "c-1")
	again := e.call("POST", "/v1/requests/"+id+"/comments", "alice", comment, "Idempotency-Key", "c-1")
	if first.Status != http.StatusCreated || again.Status != http.StatusCreated || again.Header.Get("Idempotent-Replayed") != "true" || string(again.Raw) != string(first.Raw) {
		t.Fatalf("comment replay: %d %s / %d %s", first.Status, first.Raw, again.Status, again.Raw)
	}
	if r := e.call("POST", "/v1/requests/"+id+"/comments", "alice", map[string]any{"text": "other"}, "Idempotency-Key", "c-1"); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("key reused: %d %s", r.Status, r.Raw)
	}
	decision := map[string]any{"decision": "approve", "comment": "ok"}
	d1 := e.call("POST", "/v1/requests/"+id+"/decision", "bob", decision, "Idempotency-Key", "d-1")
	d2 := e.call("POST", "/v1/requests/"+id+"/decision", "bob", decision, "Idempotency-Key", "d-1")
	if d1.Status != http.StatusOK || d2.Status != http.StatusOK || d2.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("decision replay: %d %s / %d %s", d1.Status, d1.Raw, d2.Status, d2.Raw)
	}
	st := e.call("GET", "/v1/requests/"+id, "alice", nil)
	comments, approvals := 0, 0
	for _, ev := range st.Body["timeline"].([]any) {
		switch ev.(map[string]any)["type"] {
		case "comment":
			comments++
		case "approval.approve":
			approvals++
		}
	}
	if comments != 1 || approvals != 1 {
		t.Errorf("%d comments and %d approvals recorded", comments, approvals)
	}
}
