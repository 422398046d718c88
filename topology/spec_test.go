package topology

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestPlan: the planned topology names every process O's fault test and the compose test rely
// on, in an order where each depends only on those before it, with ports that do not clash,
// Temporal's membership ports below 32768 (a smallint in its schema), and secrets kept in the
// data directory for the next start.
func TestPlan(t *testing.T) {
	data := t.TempDir()
	s, err := Plan(Options{Root: "..", Data: data, PGBin: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{PGTemporal, PGESM, TemporalSchema, Temporal, ESMSetup, ESMMigrate, Hooks,
		WorkerName(1), WorkerName(2), ESMCatalog, IDP, APIName(1), APIName(2), APIHTTPS, TemporalUI}
	if got := s.Names(); !reflect.DeepEqual(got, want) {
		t.Errorf("processes %v, want %v", got, want)
	}
	temporal, _ := s.Process(Temporal)
	for role, p := range temporal.Ports {
		if strings.HasPrefix(role, "membership-") && p > 32767 {
			t.Errorf("%s port %d does not fit Temporal's smallint", role, p)
		}
	}
	api, _ := s.Process(APIName(2))
	for _, k := range []string{"DATABASE_URL", "TEMPORAL_ADDRESS", "ESM_ADDR", "ESM_JWT_SECRET", "ESM_PAYLOAD_KEYS"} {
		if api.Env[k] == "" {
			t.Errorf("esm api has no %s", k)
		}
	}
	if !strings.Contains(api.Env["TEMPORAL_ADDRESS"], ":") || api.Env["TEMPORAL_ADDRESS"] != temporal.Health.Addr {
		t.Errorf("the API's Temporal %q is not the server's %q", api.Env["TEMPORAL_ADDRESS"], temporal.Health.Addr)
	}
	// The APIs take the idp's tokens and ESM's own; the portal signs in at the idp; the UI signs
	// in there too and decodes with the HTTPS API's codec, whose certificate the topology's CA
	// signed; the idp knows every redirect.
	idp, _ := s.Process(IDP)
	idpURL := "http://" + idp.Health.Addr
	ui, _ := s.Process(TemporalUI)
	uiOrigin := "http://" + ui.Health.Addr
	https, _ := s.Process(APIHTTPS)
	for _, a := range []Process{api, https} {
		for k, v := range map[string]string{"ESM_JWKS": idpURL + "/keys", "ESM_JWT_ISSUER": idpURL, "ESM_UI_ORIGIN": uiOrigin,
			"ESM_OIDC_CLIENT_ID": PortalClientID, "ESM_JWT_SECRET": s.Secrets["ESM_JWT_SECRET"],
			"ESM_SESSION_SECRET": s.Secrets["ESM_SESSION_SECRET"]} {
			if a.Env[k] != v || v == "" {
				t.Errorf("%s: %s=%q, want %q", a.Name, k, a.Env[k], v)
			}
		}
		if !strings.Contains(strings.Join(idp.Command, " "), a.Env["ESM_PORTAL_URL"]) {
			t.Errorf("the idp (%v) does not register %s's portal %s", idp.Command, a.Name, a.Env["ESM_PORTAL_URL"])
		}
	}
	if ui.Env["TEMPORAL_CODEC_ENDPOINT"] != "https://"+https.Health.Addr+"/codec" || ui.Env["TEMPORAL_AUTH_PROVIDER_URL"] != idpURL ||
		ui.Env["TEMPORAL_AUTH_CLIENT_SECRET"] == "" || ui.Env["TEMPORAL_AUTH_CLIENT_SECRET"] != idp.Env["ESM_IDP_UI_CLIENT_SECRET"] {
		t.Errorf("the UI's codec, provider or secret: %v", ui.Env)
	}
	if https.Health.Kind != HealthHTTPS || https.Env["ESM_TLS_CERT"] != s.TLS.Cert || https.Env["ESM_TLS_KEY"] != s.TLS.Key {
		t.Errorf("esm-api-https: health %+v, env %v", https.Health, https.Env)
	}
	if !leafValid(s.TLS) {
		t.Errorf("the topology's certificate %+v does not verify against its CA for 127.0.0.1", s.TLS)
	}
	// The second plan of the same data directory keeps the secrets (the payload key decrypts
	// what the first one wrote).
	caBefore, _ := os.ReadFile(s.TLS.CA)
	again, err := Plan(Options{Root: "..", Data: data, PGBin: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Secrets, s.Secrets) {
		t.Error("a second plan made new secrets")
	}
	if !reflect.DeepEqual(again.TLS, s.TLS) {
		t.Error("a second plan made a new certificate")
	}
	if ca, _ := os.ReadFile(again.TLS.CA); string(ca) != string(caBefore) {
		t.Error("a second plan made a new CA")
	}
	if fi, err := os.Stat(filepath.Join(data, "secrets.env")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secrets.env: %v %v", fi, err)
	}
	// A test's own sink replaces the hooks process.
	sink, err := Plan(Options{Root: "..", Data: data, PGBin: "/nonexistent", HooksURL: "http://127.0.0.1:1/sink", APIs: 3, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sink.Process(Hooks); ok {
		t.Error("a hooks process beside the test's sink")
	}
	if w, _ := sink.Process(WorkerName(1)); w.Env["ESM_HOOKS_URL"] != "http://127.0.0.1:1/sink" {
		t.Errorf("the worker's hooks %q", w.Env["ESM_HOOKS_URL"])
	}
	if _, ok := sink.Process(APIName(3)); !ok {
		t.Error("no third API")
	}
	// A fixed sequence of ports gives every port, the same each time.
	fixed := func() func() (int, error) {
		n := 20000
		return func() (int, error) { n++; return n, nil }
	}
	a, err := Plan(Options{Root: "..", Data: data, PGBin: "/nonexistent", Port: fixed()})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Plan(Options{Root: "..", Data: data, PGBin: "/nonexistent", Port: fixed()})
	if !reflect.DeepEqual(a.Processes, b.Processes) {
		t.Error("two plans with the same fixed ports differ")
	}
	if tp, _ := a.Process(Temporal); tp.Ports["membership-worker"] > 20100 {
		t.Errorf("membership port %d not from the fixed sequence", tp.Ports["membership-worker"])
	}
	// Add refuses a dependency on a process that is not there.
	if err := s.Add(Process{Name: "ui", Command: []string{"bin/x"}, DependsOn: []string{"no-such"}}); err == nil {
		t.Error("Add took a dependency on a missing process")
	}
	if err := s.Add(Process{Name: "ui", Command: []string{"bin/x"}, DependsOn: []string{Temporal}}); err != nil {
		t.Error(err)
	}
}
