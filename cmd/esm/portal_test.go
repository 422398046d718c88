package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPortal is the portal's core path, in a real browser against `esm dev` (a real Temporal dev
// server and database, over HTTP): Alice signs in, finds the laptop in the catalog, submits its
// form with the reason too short and sees the error beside the field, with what she typed, and
// fixes it; Bob names Carol his delegate on his out-of-office page, and her inbox lists the
// request for him; Bob approves from his inbox; Dave claims the task from his group's queue and
// completes it with an asset tag; Alice sees her request resolved, with its timeline, and in her
// requests. A second laptop: Bob asks Alice for information, she answers from the request her home
// page lists, then withdraws it. A third: Carol, as Bob's delegate, approves it on his behalf
// from her inbox. Then Ivan, who owns the laptop, drafts a new version (first with
// an error, shown at its path), submits it, Tara approves it and Ivan publishes it, and Alice's
// form offers the new model. A page not found is opened too. Every page is screenshot at 1280 and
// 390 px wide into test-artifacts/portal-*.png, and checked at both widths with axe-core
// (testdata/axe, pinned): a violation of WCAG 2.0/2.1 A or AA of impact serious or critical fails
// the test, listed with its rule, elements and help. Bob approves, and Dave claims and completes,
// with the keyboard only (Tab to the field or button, type, Enter).
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
	b := &portalBrowser{t: t, ctx: ctx, base: portal, dir: artifacts, axe: axeSource(t)}

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

	// Alice claims an expense with its receipt. A file too large, or of a type the service does
	// not take, is refused beside its input before anything is sent (static/files.js).
	dir := t.TempDir()
	receipt, big, notes := filepath.Join(dir, "receipt.pdf"), filepath.Join(dir, "big.pdf"), filepath.Join(dir, "notes.txt")
	for path, body := range map[string][]byte{receipt: []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"), notes: []byte("just words")} {
		if err := os.WriteFile(path, body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if f, err := os.Create(big); err != nil || f.Truncate(10<<20+1) != nil || f.Close() != nil {
		t.Fatalf("big.pdf: %v", err)
	}
	b.open("/services/expense-reimbursement")
	b.see("Receipt", "10MiB at most")
	b.do(chromedp.SetValue(chromedp.CSS("#f-amount"), "32.50"), chromedp.SetValue(chromedp.CSS("#f-category"), "meals"),
		chromedp.SetValue(chromedp.CSS("#f-description"), "Lunch with the Leeds team"),
		chromedp.SetUploadFiles(chromedp.CSS("#file-receipt"), []string{big}))
	b.see("This file is larger than 10MiB")
	if got := b.eval(`document.querySelector("#file-receipt").getAttribute("aria-invalid") || ""`); got != "true" {
		t.Errorf("a file too large is not marked invalid: aria-invalid %q", got)
	}
	b.shots("service-file-error")
	// Sending it anyway sends nothing: the page stays, with the error.
	b.do(chromedp.Click(chromedp.CSS(`form[action="/portal/services/expense-reimbursement"] button[type="submit"]`)))
	time.Sleep(300 * time.Millisecond)
	if loc := b.location(); !strings.HasSuffix(loc, "/services/expense-reimbursement") {
		t.Fatalf("a form with a file too large was sent: now on %s", loc)
	}
	b.do(chromedp.SetUploadFiles(chromedp.CSS("#file-receipt"), []string{notes}))
	b.see("This file is not a PDF, JPEG or PNG file")
	b.do(chromedp.SetUploadFiles(chromedp.CSS("#file-receipt"), []string{receipt}))
	if got := b.eval(`document.querySelector("#file-receipt-error").hidden ? "hidden" : document.querySelector("#file-receipt-error").textContent`); got != "hidden" {
		t.Errorf("a right file still shows an error: %q", got)
	}
	b.do(chromedp.Click(chromedp.CSS(`form[action="/portal/services/expense-reimbursement"] button[type="submit"]`)))
	b.see("Your request is submitted.", "Files", "receipt.pdf", "Receipt", "Add a file")
	b.shots("request-files")
	b.signOut()

	// Bob will be away: on his out-of-office page he names Carol until tomorrow. Carol, his
	// delegate, sees Alice's request in her inbox, marked for him.
	b.signIn("bob")
	b.open("/delegations")
	b.shots("delegations-empty")
	b.do(chromedp.SetValue(chromedp.CSS("#delegate"), "carol"),
		chromedp.SetValue(chromedp.CSS("#until"), time.Now().UTC().Add(24*time.Hour).Format("2006-01-02T15:04")),
		chromedp.Click(chromedp.CSS(`form[action="/portal/delegations"] button[type="submit"]`)))
	b.see("Carol", "End it now")
	b.shots("delegations")
	b.signOut()
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
	// With the keyboard only: Tab from the top of the page to Approve, then Enter.
	b.reload()
	b.tabTo(`button[name="decision"][value="approve"]`, 80)
	b.do(chromedp.KeyEvent("\r"))
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
	// With the keyboard only: Tab from the top to Claim, Enter; then to the outputs, type them,
	// Tab on to Complete, Enter.
	b.reload()
	b.tabTo(`form[action$="/claim"] button`, 80)
	b.do(chromedp.KeyEvent("\r"))
	b.see("claimed by dave", "Complete", "Cannot be done")
	b.shots("task-claimed")
	b.reload()
	b.tabTo("#f-outputs", 80)
	b.do(chromedp.KeyEvent(`{"asset_tag": "LT-0042"}`))
	b.tabTo(`form[action$="/complete"] button[type="submit"]`, 5)
	b.do(chromedp.KeyEvent("\r"))
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

	// A second laptop: Bob asks Alice for information instead of deciding; her home page lists
	// the question; she answers it on the request's page, then withdraws the request.
	b.open("/services/laptop")
	b.do(chromedp.SetValue(chromedp.CSS("#f-model"), "performance-16"), chromedp.SetValue(chromedp.CSS("#f-reason"), "a second one for the on-call rota"),
		chromedp.Click(chromedp.CSS(`form[action="/portal/services/laptop"] button[type="submit"]`)))
	b.see("Your request is submitted.")
	id2 := strings.TrimPrefix(strings.SplitN(b.location(), "?", 2)[0], portal+"/requests/")
	b.signOut()
	b.signIn("bob")
	b.until("/requests/"+id2, "Your decision")
	b.do(chromedp.SetValue(chromedp.CSS("#decision-comment"), "Which team's rota is it for?"),
		chromedp.Click(chromedp.CSS(`button[name="decision"][value="request_info"]`)))
	b.see("waiting on requester")
	b.signOut()
	b.signIn("alice")
	b.until("/", "Questions to answer", id2)
	b.shots("home-question")
	b.open("/requests/" + id2)
	b.see("Which team's rota is it for?", "Answer the question")
	b.shots("request-question")
	b.do(chromedp.SetValue(chromedp.CSS("#comment"), "The payments team's."), chromedp.Click(chromedp.CSS(`form[action$="/comment"] button[type="submit"]`)))
	b.see("Your comment is added.", "The payments team's.")
	b.until("/requests/"+id2, "pending approval", "Withdraw this request")
	b.do(chromedp.SetValue(chromedp.CSS("#withdraw-reason"), "The team found a spare one."),
		chromedp.Click(chromedp.CSS(`form[action$="/withdraw"] button[type="submit"]`)))
	b.see("Your request is withdrawn.")
	b.until("/requests/"+id2, "cancelled")
	b.shots("request-withdrawn")

	// A delegated approval: a third laptop waits on Bob, who is away; Carol, his delegate, finds
	// it in her inbox marked for him and approves it on his behalf.
	b.open("/services/laptop")
	b.do(chromedp.SetValue(chromedp.CSS("#f-model"), "standard-14"), chromedp.SetValue(chromedp.CSS("#f-reason"), "my screen flickers all day long"),
		chromedp.Click(chromedp.CSS(`form[action="/portal/services/laptop"] button[type="submit"]`)))
	b.see("Your request is submitted.")
	id3 := strings.TrimPrefix(strings.SplitN(b.location(), "?", 2)[0], portal+"/requests/")
	b.signOut()
	b.signIn("carol")
	b.until("/inbox", id3, "for Bob Ruiz")
	b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[href="/portal/requests/%s"]`, id3))))
	b.see("Your decision", "Approve")
	b.do(chromedp.SetValue(chromedp.CSS("#decision-comment"), "Approved while Bob is away."),
		chromedp.Click(chromedp.CSS(`button[name="decision"][value="approve"]`)))
	b.see("in fulfilment", "by Carol Diaz on their behalf", "Approved while Bob is away.")
	b.shots("request-delegate-approved")
	b.signOut()
	b.signIn("alice")

	b.open("/requests")
	b.see(id, "resolved")
	b.shots("requests")
	b.signOut()

	// Ivan, who owns the laptop service, drafts a new version with a new model: first with the
	// model's type misspelt (the error at its path), then right; he submits it for review.
	b.signIn("ivan")
	b.open("/my-services")
	b.see("Laptop")
	b.shots("my-services")
	b.open("/services/laptop/lifecycle")
	b.see("Draft a new version")
	b.shots("lifecycle")
	if got := b.eval(`(() => {
		const t = document.querySelector("#definition");
		t.value = t.value.replace(/^(\s+)- macbook-pro-14\n(\s+)type: string$/m, "$1- macbook-pro-14\n$1- ultrabook-13\n$2type: strung");
		return String(t.value.includes("type: strung"));
	})()`); got != "true" {
		t.Fatalf("no model type to change in the laptop's definition")
	}
	b.do(chromedp.Click(chromedp.CSS(`form[action$="/draft"] button[type="submit"]`)))
	b.see("The draft was not saved", "request.form.properties.model.type")
	b.shots("lifecycle-draft-error")
	b.eval(`(() => { const t = document.querySelector("#definition"); t.value = t.value.replace("type: strung", "type: string"); return ""; })()`)
	b.do(chromedp.Click(chromedp.CSS(`form[action$="/draft"] button[type="submit"]`)))
	b.see("The draft is saved", "Edit the draft")
	b.do(chromedp.Click(chromedp.CSS(`button[name="action"][value="submit"]`)))
	b.see("submitted for review", "not decided yet")
	b.shots("lifecycle-in-review")
	b.signOut()

	// Tara reviews and approves it (four eyes: Ivan wrote it); Ivan publishes it.
	b.signIn("tara")
	b.open("/services/laptop/lifecycle")
	b.see("Approve version")
	b.shots("lifecycle-review")
	b.do(chromedp.SetValue(chromedp.CSS("#lc-comment"), "fine"), chromedp.Click(chromedp.CSS(`button[name="action"][value="approve"]`)))
	b.see("Your approval is recorded")
	b.signOut()
	b.signIn("ivan")
	b.open("/services/laptop/lifecycle")
	b.do(chromedp.Click(chromedp.CSS(`button[name="action"][value="publish"]`)))
	b.see("The new version is live")
	b.shots("lifecycle-published")
	b.signOut()

	// Alice finds the new model in the laptop's form.
	b.signIn("alice")
	b.until("/services/laptop", "ultrabook-13")
	b.open("/no-such-page")
	b.see("Page not found")
	b.shots("not-found")
}

// portalBrowser drives the portal in headless chromium and fails the test at the first step
// that does not go as it should.
type portalBrowser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
	// axe is axe-core's source, injected into each page checked; signInChecked: the sign-in page
	// has been.
	axe           string
	signInChecked bool
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
	b.settled()
}

// settled waits until htmx has finished a swap it made (the new content shows before htmx
// settles it and scrolls a boosted page to its top): a click aimed before that scroll would
// land beside its button.
func (b *portalBrowser) settled() {
	b.t.Helper()
	const busy = `document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added") !== null`
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if v, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](busy)); err == nil && !v {
			break
		}
	}
	time.Sleep(100 * time.Millisecond)
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
	if !b.signInChecked {
		b.signInChecked = true
		b.shots("signin")
	}
	b.do(chromedp.SetValue(chromedp.CSS("#person"), who), chromedp.Click(chromedp.CSS(`form[action="/portal/signin"] button[type="submit"]`)))
	b.see("Sign out")
}

func (b *portalBrowser) signOut() {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(`form.signout button`)))
	b.see("Sign in")
}

// shots screenshots the page at 1280 and 390 px wide (test-artifacts/portal-NAME-WIDTH.png) and
// checks it with axe-core at each width.
func (b *portalBrowser) shots(name string) {
	b.t.Helper()
	for _, width := range []int64{390, 1280} {
		if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(width, 900)); err != nil {
			b.t.Fatalf("viewport %d: %v", width, err)
		}
		time.Sleep(100 * time.Millisecond)
		screenshot(b.t, b.ctx, filepath.Join(b.dir, fmt.Sprintf("portal-%s-%d.png", name, width)))
		b.checkA11y(name, width)
	}
}

// axeSource reads the vendored axe-core (testdata/axe/README.md says which and whence).
func axeSource(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core: %v", err)
	}
	return string(src)
}

// axeRun runs axe-core on the page for WCAG 2.0 and 2.1, levels A and AA, and answers as JSON
// how many rules passed, its violations of impact serious or critical in full, and the ids of
// the lesser ones. Evaluated over DevTools, so the portal's Content-Security-Policy (script-src
// 'self') does not stop the injected script.
const axeRun = `(async () => {
	const r = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}});
	const grave = v => v.impact === "serious" || v.impact === "critical";
	return JSON.stringify({
		passes: r.passes.length,
		violations: r.violations.filter(grave).map(v => ({
			id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
			nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary || ""})),
		})),
		minor: r.violations.filter(v => !grave(v)).map(v => v.id + " (" + v.impact + ")"),
	});
})()`

type axeResult struct {
	Passes     int
	Violations []struct {
		ID, Impact, Help, HelpURL string
		Nodes                     []struct{ Target, Summary string }
	}
	Minor []string
}

// checkA11y injects axe-core (once a document) and fails the test, without stopping it, with
// every serious or critical violation on the page as it is at this width; lesser ones are logged.
func (b *portalBrowser) checkA11y(name string, width int64) {
	b.t.Helper()
	loaded, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`typeof axe !== "undefined"`))
	if err == nil && !loaded {
		_, err = chromedp.Run(b.ctx, chromedp.Evaluate[chromedp.Void](b.axe))
	}
	var out string
	if err == nil {
		out, err = chromedp.Run(b.ctx, chromedp.Evaluate[string](axeRun, chromedp.EvalAwaitPromise))
	}
	if err != nil {
		b.t.Fatalf("axe-core on %s at %d px: %v", name, width, err)
	}
	var res axeResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Passes == 0 {
		b.t.Fatalf("axe-core's answer on %s (no rule passed?): %v\n%s", name, err, out)
	}
	b.t.Logf("axe-core, page %s at %d px: %d rules passed, %d serious or critical violations, lesser: %v", name, width, res.Passes, len(res.Violations), res.Minor)
	for _, v := range res.Violations {
		var nodes strings.Builder
		for _, n := range v.Nodes {
			fmt.Fprintf(&nodes, "\n    %s: %s", n.Target, strings.ReplaceAll(n.Summary, "\n", " "))
		}
		b.t.Errorf("accessibility, page %s at %d px: %s (%s): %s <%s>%s", name, width, v.ID, v.Impact, v.Help, v.HelpURL, nodes.String())
	}
}

// reload loads the page again: nothing has the focus, as on a page just opened.
func (b *portalBrowser) reload() {
	b.t.Helper()
	b.do(chromedp.Navigate(b.location()))
}

// tabTo presses Tab from where the focus is (the top of a page just loaded), as someone without
// a mouse would, until the element sel has the focus; it fails the test if that takes more than
// max presses.
func (b *portalBrowser) tabTo(sel string, max int) {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	for i := 0; i < max; i++ {
		b.do(chromedp.KeyEvent("\t"))
		if b.eval(`String(document.activeElement === document.querySelector(`+string(q)+`))`) == "true" {
			return
		}
	}
	b.t.Fatalf("%s: %d presses of Tab never reached %s (focus on %s)", b.location(), max, sel,
		b.eval(`document.activeElement ? document.activeElement.outerHTML.slice(0, 200) : "nothing"`))
}
