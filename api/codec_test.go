package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/codec"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// codecCall is one call to the codec endpoint as a browser (or anyone) makes it.
type codecCall struct {
	method, origin, who, remote string
	// requestHeaders is a preflight's Access-Control-Request-Headers.
	requestHeaders string
}

func (cc codecCall) do(t *testing.T, h http.Handler, secret []byte, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(cc.method, "/codec/decode", strings.NewReader(body))
	req.RemoteAddr = cc.remote
	if cc.origin != "" {
		req.Header.Set("Origin", cc.origin)
	}
	if cc.method == http.MethodOptions {
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", cc.requestHeaders)
	} else {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", "default")
	}
	if cc.who != "" {
		tok, err := IssueToken(secret, cc.who, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func codecStore(t *testing.T, s *store.Store) {
	t.Helper()
	b, err := catalog.Load("../examples")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyBundle(context.Background(), b, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func encryptedBody(t *testing.T, c *codec.Codec, text string) string {
	t.Helper()
	p, err := c.DataConverter().ToPayload(map[string]string{"reason": text})
	if err != nil {
		t.Fatal(err)
	}
	b, err := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{p}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// plainText is what a codec answer holds, decoded payloads' data joined.
func plainText(body string) string {
	var ps commonpb.Payloads
	if protojson.Unmarshal([]byte(body), &ps) != nil {
		return ""
	}
	var b strings.Builder
	for _, p := range ps.Payloads {
		b.Write(p.Data)
	}
	return b.String()
}

// TestCodecCORS: the codec answers the browser's preflight for the Temporal UI's origin
// (ESM_UI_ORIGIN) with every header the UI sends, Authorization-Extras (the ID token the UI
// adds with codec.passAccessToken) included; any other origin gets 403 and no CORS headers.
func TestCodecCORS(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		codecStore(t, s)
		c, _ := codec.Parse(codec.NewKey("t"))
		secret := []byte("codec-test-secret-0000000")
		h := New(Config{Store: s, JWTSecret: secret, Codec: c, CodecOrigin: "https://temporal.example.com",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
		const ui = "https://temporal.example.com"
		pre := codecCall{method: "OPTIONS", origin: ui, remote: "192.0.2.7:4000",
			requestHeaders: "authorization,authorization-extras,content-type,x-namespace"}.do(t, h, secret, "")
		if pre.Code != http.StatusNoContent || pre.Header().Get("Access-Control-Allow-Origin") != ui {
			t.Fatalf("preflight from the UI: %d %v", pre.Code, pre.Header())
		}
		allowed := strings.ToLower(pre.Header().Get("Access-Control-Allow-Headers"))
		for _, want := range []string{"authorization", "authorization-extras", "content-type", "x-namespace"} {
			if !strings.Contains(", "+allowed+",", ", "+want+",") {
				t.Errorf("the preflight does not allow %s: %q", want, allowed)
			}
		}
		if m := pre.Header().Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") {
			t.Errorf("the preflight does not allow POST: %q", m)
		}
		for _, other := range []string{"http://localhost:8233", "https://temporal.example.com.evil.test", "null"} {
			r := codecCall{method: "OPTIONS", origin: other, remote: "192.0.2.7:4000", requestHeaders: "content-type,x-namespace"}.do(t, h, secret, "")
			if r.Code != http.StatusForbidden || r.Header().Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("preflight from %s: %d %q", other, r.Code, r.Header().Get("Access-Control-Allow-Origin"))
			}
		}
		// The call itself, with an operator's token, from the UI: decoded, readable by the page.
		body := encryptedBody(t, c, "decoded-for-oscar")
		r := codecCall{method: "POST", origin: ui, who: "oscar", remote: "192.0.2.7:4000"}.do(t, h, secret, body)
		if r.Code != http.StatusOK || !strings.Contains(plainText(r.Body.String()), "decoded-for-oscar") ||
			r.Header().Get("Access-Control-Allow-Origin") != ui || !strings.Contains(r.Header().Get("Vary"), "Origin") {
			t.Errorf("an operator's decode: %d %v %s", r.Code, r.Header(), r.Body)
		}
	})
}

// TestCodecDevUI: what esm dev (and only it) turns on. Its UI's calls, without a token, from
// exactly the UI's origins and from this machine, decode; a call from another origin, another
// machine (X-Forwarded-For does not count), or with a token that is not an operator's does not.
// Without DevUI, as esm api runs, the same tokenless call from the UI's origin is 401.
func TestCodecDevUI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		codecStore(t, s)
		c, _ := codec.Parse(codec.NewKey("t"))
		secret := []byte("codec-test-secret-0000000")
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		dev := New(Config{Store: s, JWTSecret: secret, Codec: c, CodecOrigin: "http://localhost:8233", Logger: quiet,
			DevUI: &DevUI{Origins: []string{"http://127.0.0.1:8233", "http://localhost:8233"}}}).Handler()
		api := New(Config{Store: s, JWTSecret: secret, Codec: c, CodecOrigin: "http://localhost:8233", Logger: quiet}).Handler()
		body := encryptedBody(t, c, "decoded-for-the-dev-ui")
		for _, tc := range []struct {
			name string
			h    http.Handler
			call codecCall
			want int
		}{
			{"dev UI at 127.0.0.1", dev, codecCall{origin: "http://127.0.0.1:8233", remote: "127.0.0.1:50000"}, 200},
			{"dev UI at localhost, over IPv6", dev, codecCall{origin: "http://localhost:8233", remote: "[::1]:50000"}, 200},
			{"another port", dev, codecCall{origin: "http://127.0.0.1:8234", remote: "127.0.0.1:50000"}, 401},
			{"a look-alike origin", dev, codecCall{origin: "http://localhost:8233.evil.test", remote: "127.0.0.1:50000"}, 401},
			{"no origin (curl)", dev, codecCall{remote: "127.0.0.1:50000"}, 401},
			{"another machine", dev, codecCall{origin: "http://localhost:8233", remote: "192.0.2.7:4000"}, 401},
			{"a requester's token from the dev UI", dev, codecCall{origin: "http://localhost:8233", who: "alice", remote: "127.0.0.1:50000"}, 403},
			{"an operator's token from the dev UI", dev, codecCall{origin: "http://localhost:8233", who: "oscar", remote: "127.0.0.1:50000"}, 200},
			{"esm api: the UI's origin, no token", api, codecCall{origin: "http://localhost:8233", remote: "127.0.0.1:50000"}, 401},
			{"esm api: 127.0.0.1 is not its UI", api, codecCall{origin: "http://127.0.0.1:8233", remote: "127.0.0.1:50000"}, 401},
			{"esm api: an operator", api, codecCall{origin: "http://localhost:8233", who: "oscar", remote: "127.0.0.1:50000"}, 200},
		} {
			tc.call.method = "POST"
			r := tc.call.do(t, tc.h, secret, body)
			if r.Code != tc.want {
				t.Errorf("%s: %d, want %d: %s", tc.name, r.Code, tc.want, r.Body)
				continue
			}
			if tc.want == 200 && !strings.Contains(plainText(r.Body.String()), "decoded-for-the-dev-ui") {
				t.Errorf("%s: not decoded: %s", tc.name, r.Body)
			}
			if tc.want != 200 && strings.Contains(plainText(r.Body.String()), "decoded-for-the-dev-ui") {
				t.Errorf("%s: decoded", tc.name)
			}
		}
		// The browser's preflight from both of the dev UI's origins, with the headers it sends.
		for _, origin := range []string{"http://127.0.0.1:8233", "http://localhost:8233"} {
			r := codecCall{method: "OPTIONS", origin: origin, remote: "127.0.0.1:50000", requestHeaders: "content-type,x-namespace"}.do(t, dev, secret, "")
			if r.Code != http.StatusNoContent || r.Header().Get("Access-Control-Allow-Origin") != origin {
				t.Errorf("preflight from %s: %d %v", origin, r.Code, r.Header())
			}
		}
		if r := (codecCall{method: "OPTIONS", origin: "http://127.0.0.1:8233", remote: "127.0.0.1:50000", requestHeaders: "content-type,x-namespace"}).do(t, api, secret, ""); r.Code != http.StatusForbidden {
			t.Errorf("esm api, preflight from 127.0.0.1:8233: %d", r.Code)
		}
	})
}
