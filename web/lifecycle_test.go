package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
)

// TestDefinitionYAML: a definition written as the draft's YAML reads back the same; what the
// parser refuses is listed with its line, and a desk error at its dotted path with the line of
// the node there (or of its parent when the field is missing).
func TestDefinitionYAML(t *testing.T) {
	b, err := catalog.Load("../examples")
	if err != nil {
		t.Fatal(err)
	}
	def := b.Services[0]
	text := definitionYAML(&def)
	back, root, errs := decodeDefinition(text)
	if len(errs) != 0 || back.Key != def.Key || back.Request.Form == nil || definitionYAML(&back) != text {
		t.Fatalf("round trip of %s: %v\n%s", def.Key, errs, text)
	}
	lines := strings.Split(text, "\n")
	line := lineOf(root, []string{"request", "form", "properties"})
	if line == 0 || !strings.Contains(lines[line-1], "properties:") {
		t.Errorf("request.form.properties at line %d: %q", line, lines[max(line-1, 0)])
	}
	if l := lineOf(root, []string{"request", "nosuch"}); l == 0 || !strings.Contains(lines[l-1], "request:") {
		t.Errorf("a missing field is not reported at its parent: line %d", l)
	}
	got := definitionErrors(&desk.ValidationError{Fields: []catalog.FieldError{{Field: "/request/form/properties", Detail: "no good"}}}, root)
	if len(got) != 1 || got[0].Path != "request.form.properties" || got[0].Line != line || got[0].Message != "No good." {
		t.Errorf("desk error placed as %+v", got)
	}

	_, _, errs = decodeDefinition("key: x\nname: [unclosed\n")
	if len(errs) != 1 || errs[0].Line == 0 {
		t.Errorf("a syntax error: %+v", errs)
	}
	_, _, errs = decodeDefinition("key: x\nnmae: typo\n")
	if len(errs) != 1 || errs[0].Line != 2 || !strings.Contains(errs[0].Message, "nmae") {
		t.Errorf("an unknown field: %+v", errs)
	}
	if _, _, errs = decodeDefinition("  "); len(errs) != 1 {
		t.Errorf("an empty draft: %+v", errs)
	}
}

// TestLifecyclePages runs, on each database, the service owner's path on a real ESM, as a browser without
// JavaScript would: Ivan, who owns the laptop service, drafts a new version from its YAML with
// one error (listed at its path and line, what he typed kept), fixes it and submits it; he may
// not review what he wrote (four eyes: no button, and a refusal, not a 500, when he tries), Tara
// approves; Ivan publishes and the catalog serves the new version. Alice, who looks after no
// service, has no link to the page, is refused the page and a draft.
func TestLifecyclePages(t *testing.T) { onEachDatabase(t, lifecyclePages) }

func lifecyclePages(t *testing.T, base string) {
	ivan, tara, alice := newBrowser(t, base), newBrowser(t, base), newBrowser(t, base)
	for who, b := range map[string]*browser{"ivan": ivan, "tara": tara, "alice": alice} {
		b.signIn(who)
	}
	lc := Base + "/services/laptop/lifecycle"

	// The service's page links to its lifecycle for those who look after it; My services lists it.
	mustContain(t, ivan.get(Base+"/services/laptop"), `href="`+lc+`"`)
	mustContain(t, ivan.get(Base+"/my-services"), "Services you own", `href="`+lc+`"`)
	if strings.Contains(alice.get(Base+"/services/laptop"), lc) {
		t.Error("alice's service page links to its lifecycle")
	}
	// The lifecycle is for those who look after the service (docs/ACCESS.md): alice is refused.
	code, page := alice.do("GET", lc, nil)
	if code != http.StatusForbidden || strings.Contains(page, `id="stage"`) || strings.Contains(page, `name="definition"`) || strings.Contains(page, `name="action"`) {
		t.Fatalf("alice reads the laptop's lifecycle: %d\n%s", code, page)
	}
	if code, page := alice.do("POST", Base+"/services/laptop/draft", url.Values{"key": {"k"}, "definition": {"key: laptop"}}); code != http.StatusForbidden {
		t.Fatalf("alice saves a draft: %d\n%s", code, page)
	}

	// Ivan's page: the live definition as YAML, ready to edit.
	page = ivan.get(lc)
	mustContain(t, page, "Draft a new version", `name="definition"`, "key: laptop", `value="deprecate"`, `value="retire"`)
	if strings.Contains(page, `value="submit"`) {
		t.Fatal("a submit with no draft is offered")
	}
	yaml := textarea(t, page, "definition")
	// One error: the form's model names a type JSON Schema does not have.
	// A new model, and one error: its type is one JSON Schema does not have.
	broken := regexp.MustCompile(`(?m)^(\s+)- macbook-pro-14\n(\s+)type: string$`).ReplaceAllString(yaml, "${1}- macbook-pro-14\n${1}- ultrabook-13\n${2}type: strung")
	if !strings.Contains(broken, "type: strung") {
		t.Fatalf("no model type to break in:\n%s", yaml)
	}
	code, page = ivan.do("POST", Base+"/services/laptop/draft", url.Values{"key": {hidden(t, page, "key")}, "definition": {broken}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("a broken draft: %d\n%s", code, page)
	}
	mustContain(t, page, "The draft was not saved", "type: strung", "ultrabook-13", `aria-describedby="definition-errors"`)
	// The error is at its path, on the line of what broke it.
	m := regexp.MustCompile(`<code>request\.form\.properties\.model\.type</code> \(line (\d+)\)`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the error is not at request.form.properties.model.type with its line:\n%s", page)
	}
	if n, _ := strconv.Atoi(m[1]); n < 1 || n > len(strings.Split(broken, "\n")) || !strings.Contains(strings.Split(broken, "\n")[n-1], "type: strung") {
		t.Errorf("line %s is not the one that broke", m[1])
	}

	// Fixed: saved as the draft; only the owner's submit is offered next.
	fixed := strings.Replace(broken, "type: strung", "type: string", 1)
	code, page = ivan.do("POST", Base+"/services/laptop/draft", url.Values{"key": {hidden(t, page, "key")}, "definition": {fixed}})
	if code != http.StatusOK {
		t.Fatalf("the fixed draft: %d\n%s", code, page)
	}
	mustContain(t, page, "The draft is saved", "Edit the draft", "ultrabook-13", `value="submit"`, "by ivan")
	code, page = ivan.do("POST", lc, url.Values{"key": {hidden(t, page, "key")}, "action": {"submit"}})
	if code != http.StatusOK {
		t.Fatalf("submit: %d\n%s", code, page)
	}
	mustContain(t, page, "submitted for review", "in review", "Tara Singh: not decided yet")

	// Four eyes: Ivan wrote it, he has no approve button and is refused if he sends one.
	if strings.Contains(page, `value="approve"`) {
		t.Fatal("the draft's author is offered to approve it")
	}
	if code, refused := ivan.do("POST", lc, url.Values{"key": {"k2"}, "action": {"approve"}}); code != http.StatusForbidden || !strings.Contains(refused, "four eyes") {
		t.Fatalf("the author approves: %d\n%s", code, refused)
	}
	// Tara reviews: a rejection needs a comment (beside the box), then she approves.
	page = tara.get(lc)
	mustContain(t, page, `value="approve"`, `value="reject"`, "ultrabook-13")
	code, page = tara.do("POST", lc, url.Values{"key": {hidden(t, page, "key")}, "action": {"reject"}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("a rejection without a comment: %d\n%s", code, page)
	}
	mustContain(t, page, `id="lc-comment-error"`, `aria-describedby="lc-comment-error"`)
	code, page = tara.do("POST", lc, url.Values{"key": {hidden(t, page, "key")}, "action": {"approve"}, "comment": {"fine"}})
	if code != http.StatusOK {
		t.Fatalf("approve: %d\n%s", code, page)
	}
	mustContain(t, page, "Your approval is recorded", "approved")

	// Ivan publishes: the catalog serves the new version.
	page = ivan.get(lc)
	code, page = ivan.do("POST", lc, url.Values{"key": {hidden(t, page, "key")}, "action": {"publish"}})
	if code != http.StatusOK {
		t.Fatalf("publish: %d\n%s", code, page)
	}
	mustContain(t, page, "The new version is live", "by tara")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if page = alice.get(Base + "/services/laptop"); strings.Contains(page, `<option value="ultrabook-13"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the catalog does not serve the new version:\n%s", page)
		}
	}
}

// TestNewServicePage: Dave, of IT, creates a service from the YAML the page starts him with; its
// placeholder group is refused at its path and line, the fixed definition is created as a draft
// and its lifecycle page shows it. Alice may not create one of IT's services: a refusal page.
func TestNewServicePage(t *testing.T) { onEachDatabase(t, newServicePage) }

func newServicePage(t *testing.T, base string) {
	dave, alice := newBrowser(t, base), newBrowser(t, base)
	dave.signIn("dave")
	alice.signIn("alice")
	mustContain(t, dave.get(Base+"/my-services"), `href="/portal/my-services/new"`)
	page := dave.get(Base + "/my-services/new")
	text := textarea(t, page, "definition")
	mustContain(t, text, "department: it", "owner: dave", "group: a-group-of-yours")
	text = strings.Replace(text, "key: my-new-service", "key: spare-laptop", 1)
	code, page := dave.do("POST", Base+"/my-services/new", url.Values{"key": {hidden(t, page, "key")}, "definition": {text}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("a placeholder group: %d\n%s", code, page)
	}
	m := regexp.MustCompile(`<code>(fulfilment\.tasks\.0\.group)</code> \(line (\d+)\)`).FindStringSubmatch(page)
	if m == nil || !strings.Contains(strings.Split(text, "\n")[lineNo(t, m[2])-1], "a-group-of-yours") {
		t.Fatalf("the group's error is not at its path and line:\n%s", page)
	}
	mustContain(t, page, "key: spare-laptop")
	fixed := strings.Replace(text, "a-group-of-yours", "it-service-desk", 1)
	if code, page := alice.do("POST", Base+"/my-services/new", url.Values{"key": {"k"}, "definition": {fixed}}); code != http.StatusForbidden {
		t.Fatalf("alice creates one of IT's services: %d\n%s", code, page)
	}
	code, page = dave.do("POST", Base+"/my-services/new", url.Values{"key": {hidden(t, page, "key")}, "definition": {fixed}})
	if code != http.StatusOK {
		t.Fatalf("create: %d\n%s", code, page)
	}
	mustContain(t, page, "My new service", `id="stage">draft`, "version 1, editing", "Edit the draft")
	mustContain(t, dave.get(Base+"/my-services"), "spare-laptop")
}

func lineNo(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("not a line number: %q", s)
	}
	return n
}

// textarea is the text of the named text area, unescaped.
func textarea(t *testing.T, page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<textarea[^>]* name="` + name + `"[^>]*>(.*?)</textarea>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no text area %s in:\n%s", name, page)
	}
	r := strings.NewReplacer("&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&amp;", "&")
	return r.Replace(m[1])
}
