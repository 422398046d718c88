package notify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/notify"
	"github.com/esmhq/esm/notify/mailtest"
)

// A service's lifecycle mail (its "request" is the lifecycle workflow, service/<key>) links to
// the service's lifecycle page, not to a request page that cannot exist; a request's mail links
// to the request.
func TestMailLinksToThePageItIsAbout(t *testing.T) {
	srv := mailtest.Start(t)
	m, err := notify.NewMailer(srv.URL(), "ESM <esm@esm.test>", "http://esm.test/portal/")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, msg := range []notify.Message{
		{ID: "service.it.laptop.run.1", Request: "service/it.laptop", Name: "Olivia", Address: "olivia@esm.test", Subject: "Review overdue: Laptop", Text: "The owner has not reviewed the service in time.", At: time.Now()},
		{ID: "REQ-000042.1.approval.requested", Request: "REQ-000042", Name: "Bob", Address: "bob@esm.test", Subject: "Approval needed", Text: "t", At: time.Now()},
	} {
		if err := m.Send(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	got := srv.Wait(t, 5*time.Second, "two mails", func(ms []mailtest.Message) bool { return len(ms) == 2 })
	for _, g := range got {
		want, wantText := "http://esm.test/portal/requests/REQ-000042", "Open REQ-000042 in the portal"
		if g.To == "olivia@esm.test" {
			want, wantText = "http://esm.test/portal/services/it.laptop/lifecycle", "Open the service it.laptop in the portal"
		}
		if strings.Contains(g.Text+g.HTML, "/requests/service/") {
			t.Errorf("mail to %s links to a request page that does not exist:\n%s", g.To, g.Text)
		}
		if !strings.Contains(g.Text, want) || !strings.Contains(g.HTML, `href="`+want+`"`) || !strings.Contains(g.HTML, wantText) {
			t.Errorf("mail to %s: want a link to %s (%q):\n%s\n%s", g.To, want, wantText, g.Text, g.HTML)
		}
	}
}
