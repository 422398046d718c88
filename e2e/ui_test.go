package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/esmhq/esm/workflows"
	"go.temporal.io/sdk/converter"
)

var (
	uiPort  string
	uiCodec *httptest.Server
)

// codecForUI is the payload codec as the Temporal UI reaches it in the browser test. In
// production the UI calls the API's /codec with the operator's token (SSO); the browser test has
// no SSO, so this endpoint stands for an operator's session (TestPayloadsEncrypted checks that
// the API's own endpoint refuses everyone else).
func codecForUI() http.Handler {
	h := converter.NewPayloadCodecHTTPHandler(payloadCodec)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Namespace")
		w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// chromium finds Debian's chromium; CI installs it (.ci/run), and there the test may not skip.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("ESM_REQUIRE_BROWSER") != "" {
		t.Fatal("chromium is not installed (apt-get install chromium)")
	}
	t.Skip("chromium is not installed; .ci/run installs it")
	return ""
}

// browser starts headless chromium (Debian's, driven over the DevTools protocol).
func browser(t *testing.T, bin string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.WindowSize(1500, 1000),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil { // start the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// visit opens page, waits until its text contains want (or a minute passes), saves a
// screenshot at shot, and returns the page's text and whether want showed.
func visit(t *testing.T, ctx context.Context, page, want, shot string) (string, bool) {
	t.Helper()
	ctx, cancel := chromedp.NewContext(ctx) // a tab of its own
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("open %s: %v", page, err)
	}
	found, text := false, ""
	for deadline := time.Now().Add(time.Minute); !found && time.Now().Before(deadline); {
		var err error
		if text, err = chromedp.Run(ctx, chromedp.Text("body")); err != nil {
			break
		}
		found = strings.Contains(text, want)
		if !found {
			time.Sleep(250 * time.Millisecond)
		}
	}
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil { // 100: PNG
		_ = os.WriteFile(shot, png, 0o644)
	}
	return text, found
}

// TestTemporalUI: a headless browser opens the Temporal UI of the test dev server, filters the
// workflows by department, finds the request, and opens it to find its summary; the screenshots
// are saved in test-artifacts/.
func TestTemporalUI(t *testing.T) {
	bin := chromium(t)
	e := newEnv(t, "sqlite")
	id := submitLaptop(t, e, "alice")
	e.call("POST", "/v1/requests", "dave", map[string]any{"service": "onboarding", "form": onboardingForm}) // HR: filtered out
	desc, err := e.tc.DescribeWorkflowExecution(context.Background(), workflows.RequestWorkflowID(id), "")
	if err != nil {
		t.Fatal(err)
	}
	namespace := e.ns
	artifacts, _ := filepath.Abs(filepath.Join("..", "test-artifacts"))
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}

	ctx := browser(t, bin)
	list := fmt.Sprintf("http://127.0.0.1:%s/namespaces/%s/workflows?query=%s", uiPort, namespace,
		url.QueryEscape(`EsmDepartment="it"`))
	text, ok := visit(t, ctx, list, "request/"+id, filepath.Join(artifacts, "ui-workflows-it.png"))
	if !ok {
		t.Fatalf("the UI's list filtered by department does not show request/%s", id)
	}
	if strings.Contains(text, "REQ-000002") {
		t.Errorf("the department filter let the HR request through")
	}
	page := fmt.Sprintf("http://127.0.0.1:%s/namespaces/%s/workflows/%s/%s/history", uiPort, namespace,
		url.PathEscape(workflows.RequestWorkflowID(id)), desc.WorkflowExecutionInfo.Execution.RunId)
	if _, ok := visit(t, ctx, page, id+": Laptop for Alice Chen", filepath.Join(artifacts, "ui-request.png")); !ok {
		t.Errorf("the request's page does not show its summary (decoded through the codec)")
	}
}
