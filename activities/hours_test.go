package activities_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/notify/mailtest"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

// A department's Slack channel and a group's Teams channel each get a request's notification
// once, in their format, signed where a secret is named; a retried activity posts nothing again.
func TestChatFormats(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		n, _, _ := mailer(t, s)
		ctx := context.Background()
		var mu sync.Mutex
		got := map[string][]*http.Request{}
		bodies := map[string][]byte{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			got[r.URL.Path] = append(got[r.URL.Path], r)
			bodies[r.URL.Path] = b
			mu.Unlock()
		}))
		defer srv.Close()
		t.Setenv("ESM_CHAT_SECRET", "s3cret")
		b, err := catalog.Load("../examples")
		if err != nil {
			t.Fatal(err)
		}
		for i := range b.Departments {
			if b.Departments[i].Key == "it" {
				b.Departments[i].Chat = &catalog.Chat{URL: srv.URL + "/slack", Kind: catalog.ChatSlack, SecretEnv: "ESM_CHAT_SECRET"}
			}
		}
		for i := range b.Groups {
			if b.Groups[i].Key == "it-service-desk" {
				b.Groups[i].Chat = &catalog.Chat{URL: srv.URL + "/teams", Kind: catalog.ChatTeams}
			}
		}
		if _, err := s.ApplyBundle(ctx, b, time.Now()); err != nil {
			t.Fatal(err)
		}
		in := activities.NotifyInput{Notification: activities.Notification{
			ID: activities.NotificationID("REQ-000042", 4, "task.queued"), Request: "REQ-000042", Kind: "task.queued", Department: "it",
			Category: activities.CategoryAction, Groups: []string{"it-service-desk"}, Subject: "New task: Prepare <laptop>",
			Text: "Task Prepare of REQ-000042 is in your queue.", Facts: []activities.Fact{{Label: "Model", Value: "X1"}}, At: time.Now()}}
		for range 2 {
			if _, err := n.Notify(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		if len(got["/slack"]) != 1 || len(got["/teams"]) != 1 {
			t.Fatalf("want one post each, got slack %d teams %d", len(got["/slack"]), len(got["/teams"]))
		}
		if sig := got["/slack"][0].Header.Get(activities.SignatureHeader); sig != activities.Sign([]byte("s3cret"), bodies["/slack"]) {
			t.Errorf("slack post signature %q", sig)
		}
		if sig := got["/teams"][0].Header.Get(activities.SignatureHeader); sig != "" {
			t.Errorf("teams channel names no secret, yet signed %q", sig)
		}
		var slack struct {
			Text   string
			Blocks []struct {
				Type string
				Text struct{ Type, Text string }
			}
		}
		if err := json.Unmarshal(bodies["/slack"], &slack); err != nil {
			t.Fatal(err)
		}
		if slack.Text != "New task: Prepare &lt;laptop&gt;" || len(slack.Blocks) != 1 || slack.Blocks[0].Text.Type != "mrkdwn" ||
			!strings.Contains(slack.Blocks[0].Text.Text, "*New task: Prepare &lt;laptop&gt;*") || !strings.Contains(slack.Blocks[0].Text.Text, "Model: X1") ||
			!strings.Contains(slack.Blocks[0].Text.Text, "<http://esm.test/portal/requests/REQ-000042|Open REQ-000042>") {
			t.Errorf("slack payload: %s", bodies["/slack"])
		}
		var teams struct {
			Type        string
			Attachments []struct {
				ContentType string
				Content     struct {
					Type, Version string
					Body          []map[string]any
					Actions       []map[string]any
				}
			}
		}
		if err := json.Unmarshal(bodies["/teams"], &teams); err != nil {
			t.Fatal(err)
		}
		if teams.Type != "message" || len(teams.Attachments) != 1 || teams.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
			t.Fatalf("teams payload: %s", bodies["/teams"])
		}
		card := teams.Attachments[0].Content
		first := func(i int) string { // the text of body item i's first TextRun
			if i >= len(card.Body) {
				return ""
			}
			inl, _ := card.Body[i]["inlines"].([]any)
			if len(inl) == 0 {
				return ""
			}
			r, _ := inl[0].(map[string]any)
			s, _ := r["text"].(string)
			return s
		}
		if card.Type != "AdaptiveCard" || first(0) != "New task: Prepare <laptop>" || first(2) != "Model: " ||
			len(card.Actions) != 1 || card.Actions[0]["url"] != "http://esm.test/portal/requests/REQ-000042" {
			t.Errorf("teams card: %s", bodies["/teams"])
		}
	})
}

// A person who chose the digest gets no reminder mail; the day's digest gathers the reminders
// into one mail at the department's opening, once; reminders after it wait for the next day.
func TestDigestOncePerDay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		n, srv, _ := mailer(t, s)
		ctx := context.Background()
		if err := s.SetReminders(ctx, "tara", catalog.RemindersDigest); err != nil { // IT: 08:00-18:00 London
			t.Fatal(err)
		}
		night := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC) // Monday
		remind := func(seq int, at time.Time) {
			in := activities.NotifyInput{Notification: activities.Notification{
				ID: activities.NotificationID("REQ-000042", seq, "approval.reminded"), Request: "REQ-000042", Kind: "approval.reminded",
				Category: activities.CategoryReminder, To: []string{"tara"}, Subject: "Reminder: approval needed", Text: "Step waits.", At: at}}
			for range 2 { // the activity retried
				res, err := n.Notify(ctx, in)
				if err != nil || res.Later != nil {
					t.Fatalf("digest reminder: %v %v", res.Later, err)
				}
			}
		}
		remind(3, night)
		remind(5, night.Add(time.Hour))
		if msgs := srv.Messages(); len(msgs) != 0 {
			t.Fatalf("a digest person was mailed a reminder:\n%s", strings.Join(subjects(msgs), "\n"))
		}
		for _, at := range []time.Time{night, night.Add(6 * time.Hour), night.Add(6*time.Hour + time.Minute), night.Add(9 * time.Hour)} {
			if _, err := n.Digests(ctx, activities.DigestInput{Now: at}); err != nil {
				t.Fatal(err)
			}
		}
		msgs := srv.Messages()
		if len(msgs) != 1 {
			t.Fatalf("want one digest, got:\n%s", strings.Join(subjects(msgs), "\n"))
		}
		if id := msgs[0].Header.Get("Message-Id"); id != "<digest.tara.2026-03-02@esm.example.org>" || strings.Count(msgs[0].Text, "Reminder: approval needed") != 2 {
			t.Errorf("digest %s:\n%s", id, msgs[0].Text)
		}
		remind(7, night.Add(10*time.Hour)) // after today's digest
		if _, err := n.Digests(ctx, activities.DigestInput{Now: night.Add(11 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := n.Digests(ctx, activities.DigestInput{Now: night.Add(30 * time.Hour)}); err != nil { // Tuesday 08:00
			t.Fatal(err)
		}
		msgs = srv.Messages()
		if len(msgs) != 2 || msgs[1].Header.Get("Message-Id") != "<digest.tara.2026-03-03@esm.example.org>" || strings.Count(msgs[1].Text, "Reminder: approval needed") != 1 {
			t.Fatalf("want Tuesday's digest with the one reminder:\n%s", strings.Join(subjects(msgs), "\n"))
		}
	})
}

func subjects(msgs []mailtest.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.To+" "+m.Header.Get("Subject"))
	}
	return out
}

// What a requester types (a title, a comment, a task's output) reaches a channel as text, never
// as the platform's markup: no Slack mention (<!channel>) or link in the notification's
// fallback text nor its blocks, no Teams markdown link ([text](url)) anywhere in the card.
func TestChatPayloadInjection(t *testing.T) {
	note := activities.Notification{Request: "REQ-000042", Subject: "Approval needed: <!channel> <https://evil.test|Approve here> [Approve](https://evil.test)",
		Text: "Reason: <!here> [click](https://evil.test)", Facts: []activities.Fact{{Label: "Reason [x](https://evil.test)", Value: "<!everyone> [Approve](https://evil.test)"}}}
	b, err := activities.ChatPayload(catalog.ChatSlack, note, "http://esm.test/portal/requests/REQ-000042")
	if err != nil {
		t.Fatal(err)
	}
	var slack struct {
		Text   string
		Blocks []struct{ Text struct{ Text string } }
	}
	if err := json.Unmarshal(b, &slack); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{slack.Text, slack.Blocks[0].Text.Text} {
		if strings.Contains(s, "<!") || strings.Contains(s, "<https://evil") {
			t.Errorf("slack text carries markup from the request: %q", s)
		}
	}
	if !strings.Contains(slack.Text, "&lt;!channel&gt;") {
		t.Errorf("slack fallback text: %q", slack.Text)
	}
	if !strings.Contains(slack.Blocks[0].Text.Text, "<http://esm.test/portal/requests/REQ-000042|Open REQ-000042>") {
		t.Errorf("slack lost its own link: %q", slack.Blocks[0].Text.Text)
	}

	b, err = activities.ChatPayload(catalog.ChatTeams, note, "http://esm.test/portal/requests/REQ-000042")
	if err != nil {
		t.Fatal(err)
	}
	// Every piece of text in the card must sit where markdown is not parsed: a TextRun (the
	// schema: "Markdown is not supported"), never a TextBlock's or a Fact's text.
	var walk func(v any, parent string)
	runs := 0
	walk = func(v any, parent string) {
		switch x := v.(type) {
		case map[string]any:
			typ, _ := x["type"].(string)
			if typ == "TextBlock" || typ == "FactSet" {
				t.Errorf("teams card has a %s (markdown is parsed there): %v", typ, x)
			}
			if typ == "TextRun" {
				runs++
			}
			for k, c := range x {
				walk(c, typ+"."+k)
			}
		case []any:
			for _, c := range x {
				walk(c, parent)
			}
		case string:
			if strings.Contains(x, "evil.test") && parent != "TextRun.text" {
				t.Errorf("request text outside a TextRun (%s): %q", parent, x)
			}
		}
	}
	var card any
	if err := json.Unmarshal(b, &card); err != nil {
		t.Fatal(err)
	}
	walk(card, "")
	if runs < 4 || !strings.Contains(string(b), `"url":"http://esm.test/portal/requests/REQ-000042"`) {
		t.Errorf("teams card lost its content or its link: %s", b)
	}
}

// A mail server that is down delays the mail, not the chat channel: the department's channel
// gets the notification at once (once), and the mail goes when the server is back.
func TestChatWhileMailDown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		n, mail, _ := mailer(t, s)
		ctx := context.Background()
		var mu sync.Mutex
		posts := 0
		chat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			posts++
			mu.Unlock()
		}))
		defer chat.Close()
		b, err := catalog.Load("../examples")
		if err != nil {
			t.Fatal(err)
		}
		for i := range b.Departments {
			if b.Departments[i].Key == "it" {
				b.Departments[i].Chat = &catalog.Chat{URL: chat.URL, Kind: catalog.ChatSlack}
			}
		}
		if _, err := s.ApplyBundle(ctx, b, time.Now()); err != nil {
			t.Fatal(err)
		}
		in := note("alice")
		in.Notification.Department = "it"
		mail.Stop()
		if _, err := n.Notify(ctx, in); err == nil {
			t.Fatal("the mail server is down: want an error for the retry")
		}
		mu.Lock()
		got := posts
		mu.Unlock()
		if got != 1 {
			t.Fatalf("the mail server is down: want the channel told at once, got %d posts", got)
		}
		mail.Restart()
		for range 2 {
			if _, err := n.Notify(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		if msgs := mail.Messages(); len(msgs) != 1 {
			t.Fatalf("want one mail:\n%s", mailtest.Summary(msgs))
		}
		mu.Lock()
		defer mu.Unlock()
		if posts != 1 {
			t.Fatalf("want one post to the channel, got %d", posts)
		}
	})
}
