package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDecideFromMail is issue 19's "decide from the email" as a newcomer does it after `make
// run`: esm dev starts Mailpit; Alice asks for a laptop; Bob's approval mail is read from the
// catcher's API; a plain GET of its Approve link (a mail scanner) decides nothing; headless
// chromium opens the link, sees the confirmation page and approves; the same link again says it
// was used. Then Bob is out of office (a delegation to Erin): Alice's second laptop mails both;
// Erin approves from her mail on Bob's behalf, and Bob's link says Erin already approved. A POST
// from another origin, and one without the button's decision, decide nothing. Screenshots go to
// test-artifacts/maillink-*.png.
func TestDecideFromMail(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server, Mailpit and a browser")
	}
	bin := chromium(t)
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	for _, b := range []string{"temporal", "mailpit"} {
		if _, err := os.Stat(filepath.Join(root, "bin", b)); err != nil {
			t.Fatalf("bin/%s is missing: run make build (make test does)", b)
		}
	}
	artifacts := filepath.Join(root, "test-artifacts")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	p := startDev(t, t.TempDir(), []string{
		"ESM_TEMPORAL_BIN=" + filepath.Join(root, "bin", "temporal"),
		"ESM_MAILPIT_BIN=" + filepath.Join(root, "bin", "mailpit"),
		"ESM_CATALOG=" + filepath.Join(root, "examples"),
		"TEMPORAL_ADDRESS=127.0.0.1:" + freePort(t),
		"ESM_UI_PORT=" + freePort(t),
		"ESM_ADDR=127.0.0.1:" + freePort(t),
		"ESM_HOOKS_ADDR=127.0.0.1:" + freePort(t),
		"ESM_HOOKS_URL=", "ESM_SMTP_URL=", "ESM_PORTAL_URL=", "ESM_UI_ORIGIN=", "ESM_PAYLOAD_KEYS=", "ESM_JWT_SECRET=",
		"DATABASE_URL=",
	})
	defer p.stop(t)
	if p.mail == "" || p.portal == "" {
		t.Fatalf("the banner prints no Mail or Portal line:\n%s", p.out)
	}

	// Alice asks for a laptop; Bob's mail carries an Approve and a Reject link.
	id := p.call(t, "POST", "/v1/requests", "alice", `{"service":"laptop","form":{"model":"standard-14","reason":"the old one is broken"}}`)["id"].(string)
	mail := mailTo(t, p.mail, "bob@example.com", id)
	approve, reject := linkIn(t, mail, "Approve"), linkIn(t, mail, "Reject")
	if approve == reject || !strings.HasPrefix(approve, strings.TrimSuffix(p.portal, "/")+"/link/") {
		t.Fatalf("Bob's links: %q %q (portal %s)", approve, reject, p.portal)
	}

	// A mail scanner opens the link: a page, no decision, and no Referer sent anywhere.
	resp, err := http.Get(approve)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "Approve "+id) || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("GET of the link: %d %q\n%s", resp.StatusCode, resp.Header.Get("Referrer-Policy"), page)
	}
	if st := requestStatus(t, p, id); st != "pending_approval" {
		t.Fatalf("a GET of the link moved %s to %s", id, st)
	}
	// A POST from another site, and a POST without the button's decision, decide nothing.
	forged, _ := http.NewRequest("POST", approve, strings.NewReader("decision=approve"))
	forged.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	forged.Header.Set("Origin", "https://evil.example")
	forged.Header.Set("Sec-Fetch-Site", "cross-site")
	if code := send(t, forged); code != http.StatusForbidden {
		t.Fatalf("a cross-origin POST of the link: %d, want 403", code)
	}
	empty, _ := http.NewRequest("POST", approve, nil)
	if code := send(t, empty); code != http.StatusBadRequest {
		t.Fatalf("a POST of the link without a body: %d, want 400", code)
	}
	if st := requestStatus(t, p, id); st != "pending_approval" {
		t.Fatalf("refused POSTs moved %s to %s", id, st)
	}

	ctx := browser(t, bin)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	b := &portalBrowser{t: t, ctx: ctx, base: "", dir: artifacts}
	shot := func(name string) {
		t.Helper()
		screenshot(t, ctx, filepath.Join(artifacts, "maillink-"+name+".png"))
	}
	// Bob opens the mail in the catcher, as a newcomer would.
	b.do(chromedp.Navigate(p.mail + "/view/" + mail.ID + ".html")) // the message's HTML part
	waitText(ctx, 15*time.Second, "Approve", "Reject")             // the catcher's UI draws itself with JavaScript
	shot("catcher")

	b.do(chromedp.Navigate(approve))
	b.see("Approve "+id, "Alice Chen", "Laptop", "You are about to approve", "manager")
	shot("confirm")
	b.do(chromedp.SetValue(chromedp.CSS("#link-comment"), "enjoy it"), chromedp.Click(chromedp.CSS(`button[name="decision"]`)))
	b.see("Approved: "+id, "is recorded")
	shot("approved")
	if st := requestStatus(t, p, id); st != "in_fulfilment" {
		t.Fatalf("after Approve, %s is %s", id, st)
	}
	b.do(chromedp.Navigate(approve))
	b.see("This link was used", "approved "+id)
	shot("used")
	b.do(chromedp.Navigate(reject))
	b.see("Already decided", "Bob Ruiz already approved")

	// Bob is out of office: Erin decides for him. Alice's second laptop mails both.
	p.call(t, "POST", "/v1/delegations", "bob", fmt.Sprintf(`{"delegate":"erin","ends_at":%q}`, time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339)))
	id2 := p.call(t, "POST", "/v1/requests", "alice", `{"service":"laptop","form":{"model":"standard-14","reason":"a second one for the lab"}}`)["id"].(string)
	bobs, erins := linkIn(t, mailTo(t, p.mail, "bob@example.com", id2), "Approve"), linkIn(t, mailTo(t, p.mail, "erin@example.com", id2), "Approve")
	b.do(chromedp.Navigate(erins))
	b.see("Approve "+id2, "on behalf of Bob Ruiz")
	shot("confirm-delegate")
	b.do(chromedp.Click(chromedp.CSS(`button[name="decision"]`)))
	b.see("Approved: "+id2, "on behalf of Bob Ruiz")
	b.do(chromedp.Navigate(bobs))
	b.see("Already decided", "Erin Park (on behalf of Bob Ruiz) already approved this step on")
	shot("decided-by-someone-else")
	// A token that is not one says nothing about any request.
	b.do(chromedp.Navigate(strings.TrimSuffix(p.portal, "/") + "/link/" + strings.Repeat("x", 43)))
	b.see("This link does not work")
	if text, _ := waitText(ctx, time.Second, "REQ-"); strings.Contains(text, "REQ-") {
		t.Fatalf("an unknown link's page names a request:\n%s", text)
	}
	shot("unknown")
	if strings.Contains(p.out.String(), strings.TrimPrefix(approve, strings.TrimSuffix(p.portal, "/")+"/link/")) {
		t.Fatalf("esm dev's log holds a link's token")
	}
}

// caught is a message in Mailpit.
type caught struct {
	ID         string
	Text, HTML string
}

// mailTo waits for the approval mail about request id to address, and returns it whole.
func mailTo(t *testing.T, mailpit, address, id string) caught {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		var list struct {
			Messages []struct {
				ID      string `json:"ID"`
				Subject string `json:"Subject"`
				To      []struct {
					Address string `json:"Address"`
				} `json:"To"`
			} `json:"messages"`
		}
		if resp, err := http.Get(mailpit + "/api/v1/messages?limit=200"); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&list)
			resp.Body.Close()
		}
		for _, m := range list.Messages {
			if len(m.To) != 1 || m.To[0].Address != address || !strings.HasPrefix(m.Subject, "Approval needed") {
				continue
			}
			resp, err := http.Get(mailpit + "/api/v1/message/" + m.ID)
			if err != nil {
				t.Fatal(err)
			}
			var full caught
			_ = json.NewDecoder(resp.Body).Decode(&full)
			resp.Body.Close()
			if strings.Contains(full.Text, id+".") || strings.Contains(full.Text, id+" ") {
				full.ID = m.ID
				return full
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no approval mail about %s for %s in the catcher: %+v", id, address, list)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// linkIn is the URL of the mail's action labelled label (its text part: "Approve (until ...): URL").
func linkIn(t *testing.T, m caught, label string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + label + ` \(until [^)]*\): (\S+)`)
	got := re.FindStringSubmatch(m.Text)
	if got == nil {
		t.Fatalf("no %s link in the mail:\n%s", label, m.Text)
	}
	return got[1]
}

// status is a request's status as Alice reads it in the API.
func requestStatus(t *testing.T, p *devProcess, id string) string {
	t.Helper()
	return p.call(t, "GET", "/v1/requests/"+id, "alice", "")["status"].(string)
}

// send sends a request and returns its status code.
func send(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
