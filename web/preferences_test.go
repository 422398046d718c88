package web

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/esmhq/esm/store/storetest"
)

// TestPreferencesPage: the nav links to Preferences; a person sees how reminders reach them and
// changes it; a value that is no choice is refused beside the field, and nothing changes. A real
// ESM (startESMOn) on each database.
func TestPreferencesPage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server")
	}
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			base := startESMOn(t, dialect)
			alice := newBrowser(t, base)
			alice.signIn("alice")
			mustContain(t, alice.get(Base+"/"), `<a href="/portal/preferences">Preferences</a>`)
			page := alice.get(Base + "/preferences")
			mustContain(t, page, "<legend>Reminders</legend>", `<label for="reminders-digest">One digest a day at opening time</label>`,
				`value="immediate" checked`)
			mustLack(t, page, `value="digest" checked`)

			code, page := alice.do("POST", Base+"/preferences", url.Values{"reminders": {"weekly"}})
			if code != http.StatusUnprocessableEntity {
				t.Fatalf("an unknown choice: %d\n%s", code, page)
			}
			mustContain(t, page, `id="reminders-error">Choose how reminders reach you`, `aria-describedby="reminders-error"`)
			mustContain(t, alice.get(Base+"/preferences"), `value="immediate" checked`)

			code, page = alice.do("POST", Base+"/preferences", url.Values{"reminders": {"digest"}})
			if code != http.StatusOK {
				t.Fatalf("save: %d\n%s", code, page)
			}
			mustContain(t, page, "Your preferences are saved", `value="digest" checked`)
			// Bob's are his own: Alice's choice is not his.
			bob := newBrowser(t, base)
			bob.signIn("bob")
			mustContain(t, bob.get(Base+"/preferences"), `value="immediate" checked`)
		})
	}
}
