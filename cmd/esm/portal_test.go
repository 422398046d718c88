package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPortal is the portal's core path, in a real browser against `esm dev` (a real Temporal dev
// server and database, over HTTP): Alice signs in, finds the laptop in the catalog, submits its
// form with the reason too short and sees the error beside the field, with what she typed, and
// fixes it; Bob approves from his inbox; Dave claims the task from his group's queue and
// completes it with an asset tag; Alice sees her request resolved, with its timeline. Every page
// is screenshot at 1280 and 390 px wide into test-artifacts/portal-*.png.
func TestPortal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server and a browser")
	}
	bin := chromium(t)
	p, artifacts := startDevForBrowser(t, "127.0.0.1:"+freePort(t))
	defer p.stop(t)
	if p.portal == "" {
		t.Fatalf("esm dev printed no Portal address:\n%s", p.out)
	}
	portal := strings.TrimSuffix(p.portal, "/")

	ctx := browser(t, bin)
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	b := &portalBrowser{t: t, ctx: ctx, base: portal, dir: artifacts}

	// Alice finds the laptop in the catalog.
	b.signIn("alice")
	b.shots("home-alice")
	b.open("/catalog")
	b.do(chromedp.SetValue(chromedp.CSS("#q"), "laptop"), chromedp.Click(chromedp.CSS(`form[role="search"] button`)))
	b.see("Laptop", "matching")
	b.shots("catalog")
	b.do(chromedp.Click(chromedp.CSS(`a[href="/portal/services/laptop"]`)))
	b.see("Request it", "Model", "Reason")
	b.shots("service")

	// One field wrong: the reason is too short. The error shows beside it, tied to it, and
	// what she typed is still there.
	const short = "too slow"
	b.do(chromedp.SetValue(chromedp.CSS("#f-model"), "standard-14"), chromedp.SetValue(chromedp.CSS("#f-reason"), short),
		chromedp.Click(chromedp.CSS(`form[action="/portal/services/laptop"] button[type="submit"]`)))
	b.see("Your request was not sent")
	b.shots("service-error")
	described := b.eval(`document.querySelector("#f-reason").getAttribute("aria-describedby") || ""`)
	errText := b.eval(`(document.querySelector("#f-reason-error") || {}).textContent || ""`)
	if !strings.Contains(described, "f-reason-error") || errText == "" {
		t.Fatalf("the reason's error is not beside it: aria-describedby %q, error %q", described, errText)
	}
	if got := b.eval(`document.querySelector("#f-reason").value`); got != short {
		t.Errorf("the reason typed is not shown again: %q", got)
	}
	if got := b.eval(`document.querySelector("#f-model").value`); got != "standard-14" {
		t.Errorf("the model chosen is not shown again: %q", got)
	}
	// She fixes it and submits.
	b.do(chromedp.SetValue(chromedp.CSS("#f-reason"), "my battery lasts twenty minutes"),
		chromedp.Click(chromedp.CSS(`form[action="/portal/services/laptop"] button[type="submit"]`)))
	b.see("Your request is submitted.")
	loc := b.location()
	id := strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], portal+"/requests/")
	if !strings.HasPrefix(id, "REQ-") {
		t.Fatalf("after submitting, the page is %s, not a request's", loc)
	}
	b.see(id, "pending approval")
	b.shots("request-submitted")
	b.signOut()

	// Bob is away tomorrow: Carol, his delegate, sees it in her inbox, marked for him.
	ends := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	p.call(t, "POST", "/v1/delegations", "bob", `{"delegate":"carol","ends_at":"`+ends+`"}`)
	b.signIn("carol")
	b.until("/inbox", id, "for Bob Ruiz")
	b.shots("inbox-delegate")
	b.signOut()

	// Bob approves it from his inbox.
	b.signIn("bob")
	b.until("/inbox", id, "Laptop for Alice Chen")
	b.shots("inbox")
	b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[href="/portal/requests/%s"]`, id))))
	b.see("Your decision", "Approve", "Reject", "Ask for information")
	b.shots("request-decide")
	b.do(chromedp.Click(chromedp.CSS(`button[name="decision"][value="approve"]`)))
	b.see("in fulfilment")
	b.shots("request-approved")
	b.signOut()

	// Dave claims the task from his group's queue and completes it with an asset tag.
	b.signIn("dave")
	task := id + ".prepare"
	b.until("/queue", "Prepare and ship the laptop", id)
	b.shots("queue")
	b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[href="/portal/tasks/%s"]`, task))))
	b.see("Claim")
	b.shots("task-open")
	b.do(chromedp.Click(chromedp.CSS(`form[action$="/claim"] button`)))
	b.see("claimed by dave", "Complete", "Cannot be done")
	b.shots("task-claimed")
	b.do(chromedp.SetValue(chromedp.CSS("#f-outputs"), `{"asset_tag": "LT-0042"}`),
		chromedp.Click(chromedp.CSS(`form[action$="/complete"] button[type="submit"]`)))
	b.see(id, "LT-0042")
	b.signOut()

	// Alice sees her request resolved, with its timeline.
	b.signIn("alice")
	b.until("/requests/"+id, "resolved", "LT-0042", "Timeline")
	b.shots("request-resolved")
	timeline := b.eval(`document.querySelector("#timeline").innerText`)
	for _, want := range []string{"submitted by alice", "approval.approve by bob", "task.completed by dave", "resolved"} {
		if !strings.Contains(strings.ToLower(timeline), want) {
			t.Errorf("the timeline lacks %q:\n%s", want, timeline)
		}
	}
	b.open("/")
	b.shots("home-alice-after")
}

// portalBrowser drives the portal in headless chromium and fails the test at the first step
// that does not go as it should.
type portalBrowser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
}

func (b *portalBrowser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		text, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("body")))
		b.t.Fatalf("on %s: %v\n%s", loc, err, text)
	}
}

func (b *portalBrowser) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
}

func (b *portalBrowser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

func (b *portalBrowser) eval(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("%s: %v", js, err)
	}
	return v
}

// see waits until the page shows every one of want.
func (b *portalBrowser) see(want ...string) {
	b.t.Helper()
	if text, missing := waitText(b.ctx, 30*time.Second, want...); missing != "" {
		b.t.Fatalf("%s does not show %q:\n%s", b.location(), missing, text)
	}
}

// until opens path again and again until it shows every one of want (what the read model or a
// workflow has not caught up with yet).
func (b *portalBrowser) until(path string, want ...string) {
	b.t.Helper()
	var text, missing string
	for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		b.open(path)
		if text, missing = waitText(b.ctx, 2*time.Second, want...); missing == "" {
			return
		}
	}
	b.t.Fatalf("%s never showed %q:\n%s", path, missing, text)
}

func (b *portalBrowser) signIn(who string) {
	b.t.Helper()
	b.open("/signin")
	b.do(chromedp.SetValue(chromedp.CSS("#person"), who), chromedp.Click(chromedp.CSS(`form[action="/portal/signin"] button[type="submit"]`)))
	b.see("Sign out")
}

func (b *portalBrowser) signOut() {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(`form.signout button`)))
	b.see("Sign in")
}

// shots screenshots the page at 1280 and 390 px wide: test-artifacts/portal-NAME-WIDTH.png.
func (b *portalBrowser) shots(name string) {
	b.t.Helper()
	for _, width := range []int64{390, 1280} {
		if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(width, 900)); err != nil {
			b.t.Logf("viewport %d: %v", width, err)
			continue
		}
		time.Sleep(100 * time.Millisecond)
		screenshot(b.t, b.ctx, filepath.Join(b.dir, fmt.Sprintf("portal-%s-%d.png", name, width)))
	}
}
