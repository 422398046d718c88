package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/esmhq/esm/internal/browsertest"
)

// The browser helpers of this package's browser tests (ui, portal, maillink): one copy, in
// internal/browsertest, shared with the topology's UI sign-in test.
var (
	chromium    = browsertest.Chromium
	browser     = browsertest.Start
	waitText    = browsertest.WaitText
	screenshot  = browsertest.Screenshot
	scrollUntil = browsertest.ScrollUntil
)

// startDevForBrowser starts `esm dev` as a process, as `make run` does, on addr (ESM_ADDR) with
// free ports for everything else and the example catalog, for a browser test; it answers the
// process and the folder its screenshots go to (test-artifacts/).
func startDevForBrowser(t *testing.T, addr string) (*devProcess, string) {
	t.Helper()
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	temporal := filepath.Join(root, "bin", "temporal")
	if _, err := os.Stat(temporal); err != nil {
		t.Fatalf("bin/temporal is missing: run make build (make test does)")
	}
	artifacts := filepath.Join(root, "test-artifacts")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	return startDev(t, t.TempDir(), []string{
		"ESM_TEMPORAL_BIN=" + temporal,
		"ESM_CATALOG=" + filepath.Join(root, "examples"),
		"TEMPORAL_ADDRESS=127.0.0.1:" + freePort(t),
		"ESM_UI_PORT=" + freePort(t),
		"ESM_ADDR=" + addr,
		"ESM_HOOKS_ADDR=127.0.0.1:" + freePort(t),
		"ESM_HOOKS_URL=",
		"ESM_UI_ORIGIN=",
		"ESM_PAYLOAD_KEYS=",
		"ESM_JWT_SECRET=",
		"DATABASE_URL=",
	}), artifacts
}

// TestDevTemporalUI is an operator's first look after `make run`: esm dev runs as a process,
// headless chromium opens the Temporal UI address its banner prints, filters the workflows by
// department, opens the request from the list and reads the form's reason, decoded by the API's
// codec with no step of the operator's (no token, no settings); once approved, lists the requests
// waiting on the IT service desk (EsmOpenGroups) and reads the request's task board (its current
// details). Screenshots go to test-artifacts/.
func TestDevTemporalUI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server and a browser")
	}
	bin := chromium(t)
	// ESM_ADDR as make run's :8080: the UI's codec endpoint is http://localhost:port/codec.
	p, artifacts := startDevForBrowser(t, ":"+freePort(t))
	defer p.stop(t)
	const reason = "my battery lasts twenty minutes"
	id := p.call(t, "POST", "/v1/requests", "alice",
		`{"service":"laptop","form":{"model":"standard-14","reason":"`+reason+`"}}`)["id"].(string)
	hr := p.call(t, "POST", "/v1/requests", "dave",
		`{"service":"onboarding","form":{"joiner_name":"Jo Newman","start_date":"2027-01-04","location":"london"}}`)["id"].(string)

	ctx := browser(t, bin)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	// The address the banner prints, filtered by department as an operator would.
	list := p.ui + "?query=" + url.QueryEscape(`EsmDepartment="it"`)
	if err := chromedp.Do(ctx, chromedp.Navigate(list)); err != nil {
		t.Fatalf("open %s: %v", list, err)
	}
	text, missing := waitText(ctx, time.Minute, "request/"+id)
	screenshot(t, ctx, filepath.Join(artifacts, "ui-workflows-it.png"))
	if missing != "" {
		t.Fatalf("the UI's list at %s does not show request/%s:\n%s", list, id, text)
	}
	if strings.Contains(text, "request/"+hr) {
		t.Errorf("the department filter let the HR request %s through", hr)
	}

	// Open the request from the list: its page shows the summary and the input, decoded.
	link := chromedp.CSS(fmt.Sprintf(`a[href*="%s"]`, url.PathEscape("request/"+id)))
	if err := chromedp.Do(ctx, chromedp.Click(link)); err != nil {
		t.Fatalf("open request/%s from the list: %v", id, err)
	}
	text, missing = waitText(ctx, time.Minute, id+": Laptop for Alice Chen", `"Number": 1`)
	if missing == "" {
		// The input is long (the pinned definition comes before the form): scroll its box, as
		// an operator would, until the form's reason shows.
		text, missing = scrollUntil(ctx, reason)
	}
	screenshot(t, ctx, filepath.Join(artifacts, "ui-request.png"))
	if missing != "" {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("the request's page (%s) does not show %q decoded:\n%s", loc, missing, text)
	}
	if strings.Contains(text, "Codec Server could not connect") {
		t.Errorf("the page says the codec server could not connect")
	}
	page, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}

	// Approved, the request waits on the IT service desk: the operator lists what waits on that
	// group by EsmOpenGroups (the onboarding, still awaiting its approval, waits on nobody) and
	// reads the task board in the request's current details.
	p.call(t, "POST", "/v1/requests/"+id+"/decision", "bob", `{"decision":"approve","comment":"ok"}`)
	waiting := p.ui + "?query=" + url.QueryEscape(`EsmOpenGroups="it-service-desk"`)
	if err := chromedp.Do(ctx, chromedp.Navigate(waiting)); err != nil {
		t.Fatalf("open %s: %v", waiting, err)
	}
	text, missing = waitText(ctx, time.Minute, "request/"+id)
	screenshot(t, ctx, filepath.Join(artifacts, "ui-workflows-waiting-on-it-service-desk.png"))
	if missing != "" {
		t.Fatalf("the UI's list at %s does not show request/%s:\n%s", waiting, id, text)
	}
	if strings.Contains(text, "request/"+hr) {
		t.Errorf("EsmOpenGroups let the onboarding %s through, which waits on its approver", hr)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("open %s: %v", page, err)
	}
	// The page's User Metadata tab holds the summary, the details and the current details.
	if _, missing = waitText(ctx, time.Minute, "User Metadata"); missing == "" {
		clicked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
			for (const el of document.querySelectorAll("a, button, [role=tab]")) {
				if (el.textContent.trim() === "User Metadata") { el.click(); return true; }
			}
			return false;
		})()`))
		if err != nil || !clicked {
			t.Fatalf("open the User Metadata tab of %s: %v (clicked: %v)", page, err, clicked)
		}
	}
	// The UI renders the markdown in a frame of its own: read the frames' text.
	const frames = `(() => Array.from(document.querySelectorAll("iframe")).map(f => {
		try { return f.contentDocument.body.innerText; } catch (e) { return f.srcdoc || ""; }
	}).join("\n"))()`
	var board string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
		board, _ = chromedp.Run(ctx, chromedp.Evaluate[string](frames))
		missing = ""
		for _, w := range []string{"task", "group", "state", "assignee", "due", "Prepare and ship the laptop", "it-service-desk", "open"} {
			if !strings.Contains(board, w) {
				missing = w
				break
			}
		}
		if missing == "" || time.Now().After(deadline) {
			break
		}
	}
	screenshot(t, ctx, filepath.Join(artifacts, "ui-request-board.png"))
	if missing != "" {
		text, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("the request's page %s does not show the task board (%q): frames %q\n%s", page, missing, board, text)
	}

	// Fulfilled, the request's result ({Status, Reason}) reads decoded too, at the UI's other
	// address (localhost, the form a browser's address bar often gets).
	if done := p.call(t, "POST", "/v1/tasks/"+id+".prepare/complete", "dave", `{"outputs":{"asset_tag":"LT-4711"}}`); done["status"] != "resolved" {
		t.Fatalf("complete: %v", done)
	}
	local := strings.Replace(page, "//127.0.0.1:", "//localhost:", 1)
	if local == page {
		t.Fatalf("the request's page %s is not on 127.0.0.1", page)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(local)); err != nil {
		t.Fatalf("open %s: %v", local, err)
	}
	text, missing = waitText(ctx, time.Minute, "Completed", id+": Laptop for Alice Chen", `"Number": 1`, `"Status": "resolved"`)
	screenshot(t, ctx, filepath.Join(artifacts, "ui-request-result.png"))
	if missing != "" {
		t.Fatalf("the request's page at %s does not show %q decoded:\n%s", local, missing, text)
	}
	if strings.Contains(text, "Codec Server could not connect") {
		t.Errorf("at %s the page says the codec server could not connect", local)
	}
}

// TestUIOrigins: esm dev trusts exactly the origins of the UI it starts: the address its banner
// prints and both loopback names of the UI's port, nothing else.
func TestUIOrigins(t *testing.T) {
	for _, tc := range []struct {
		host string
		want []string
	}{
		{"127.0.0.1", []string{"http://127.0.0.1:8233", "http://localhost:8233"}},
		{"localhost", []string{"http://localhost:8233", "http://127.0.0.1:8233"}},
		{"", []string{"http://localhost:8233", "http://127.0.0.1:8233"}},
		{"::1", []string{"http://[::1]:8233", "http://127.0.0.1:8233", "http://localhost:8233"}},
	} {
		if got := uiOrigins(tc.host, "8233"); !slices.Equal(got, tc.want) {
			t.Errorf("uiOrigins(%q): %v, want %v", tc.host, got, tc.want)
		}
	}
}
