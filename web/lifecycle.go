package web

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
	"gopkg.in/yaml.v3"
)

// The service owner's and department staff's pages: the services one looks after, and a
// service's lifecycle page (stage, versions, next review, the draft and its review) with the
// actions desk.LifecycleForm says the person may take: draft a new version (the definition as
// YAML), submit it for review, approve or reject it, publish, deprecate, retire, record the
// periodic review. The YAML is decoded here, as the API decodes JSON; every rule about it is the
// desk's (desk.SaveDraft), and its errors are listed at their path with the line they are on.

func (p *Portal) lifecycleRoutes(mux *http.ServeMux) {
	mux.Handle("GET "+Base+"/my-services", p.authed(p.myServices))
	mux.Handle("GET "+Base+"/services/{key}/lifecycle", p.authed(p.lifecycle))
	mux.Handle("POST "+Base+"/services/{key}/lifecycle", p.authed(p.lifecycleAction))
	mux.Handle("POST "+Base+"/services/{key}/draft", p.authed(p.saveDraft))
	mux.Handle("GET "+Base+"/my-services/new", p.authed(p.newService))
	mux.Handle("POST "+Base+"/my-services/new", p.authed(p.createService))
}

// newServiceYAML is where a new service's definition starts: the smallest one that says what a
// service needs, in the person's department and owned by them.
func newServiceYAML(me desk.Actor) string {
	return fmt.Sprintf(`key: my-new-service
name: My new service
department: %s
owner: %s
summary: One sentence a requester reads in the catalog.
request:
  form:
    type: object
    properties:
      details: {type: string, minLength: 10}
    required: [details]
fulfilment:
  tasks:
    - {id: do-it, name: Do it, group: a-group-of-yours, kind: manual}
`, me.Department, me.ID)
}

// newService: the form of a new service, its definition as YAML.
func (p *Portal) newService(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, "newservice", map[string]any{"FormKey": newKey(), "YAML": newServiceYAML(actor(r))})
}

// createService creates a service from the YAML typed (desk.CreateService: its department's
// staff and admins); its lifecycle page then shows the first draft. YAML that does not parse, or
// a definition the desk refuses, shows the form again with what was typed and each error at its
// path and line; any other refusal is a page of its own.
func (p *Portal) createService(w http.ResponseWriter, r *http.Request) {
	if !p.parse(w, r) {
		return
	}
	text := r.PostForm.Get("definition")
	def, root, errs := decodeDefinition(text)
	if len(errs) == 0 {
		_, err := p.desk.CreateService(r.Context(), actor(r), def)
		if err == nil {
			http.Redirect(w, r, Base+"/services/"+url.PathEscape(def.Key)+"/lifecycle?done=saved", http.StatusSeeOther)
			return
		}
		var ve *desk.ValidationError
		if !errors.As(err, &ve) {
			p.fail(w, r, err)
			return
		}
		errs = definitionErrors(ve, root)
	}
	p.render(w, r, http.StatusUnprocessableEntity, "newservice", map[string]any{"FormKey": newKey(), "YAML": text, "YAMLErrors": errs})
}

// myServices: the services I own and my department's.
func (p *Portal) myServices(w http.ResponseWriter, r *http.Request) {
	items, err := p.desk.MyServices(r.Context(), actor(r))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	var owned, dept []desk.MyService
	for _, s := range items {
		if s.Owner {
			owned = append(owned, s)
		} else {
			dept = append(dept, s)
		}
	}
	p.render(w, r, http.StatusOK, "myservices", map[string]any{"Owned": owned, "Department": dept})
}

// yamlError is a problem with the YAML typed: where (a dotted path, a line when known) and what.
type yamlError struct {
	Path    string
	Line    int
	Message string
}

// lifecyclePage is what the lifecycle page shows: the desk's form, the YAML in the draft's text
// area (what was typed, after a refusal) and the errors of the last thing sent.
type lifecyclePage struct {
	desk.LifecycleForm
	FormKey    string // the forms' idempotency key: a double click is one call
	YAML       string
	YAMLErrors []yamlError
	Comment    string
	ActionErr  string
	Notice     string
}

// lifecycleNotices are what the page says after an action went through (?done=...).
var lifecycleNotices = map[string]string{
	"saved": "The draft is saved.", "submit": "The draft is submitted for review.", "approve": "Your approval is recorded.",
	"reject": "The draft is rejected and back with its authors.", "publish": "The new version is live.",
	"deprecate": "The service is deprecated.", "retire": "The service is retiring.", "review": "The review is recorded.",
}

func (p *Portal) lifecycle(w http.ResponseWriter, r *http.Request) {
	lf, err := p.desk.LifecycleForm(r.Context(), actor(r), r.PathValue("key"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	pg := lifecyclePage{LifecycleForm: lf, FormKey: newKey(), YAML: definitionYAML(lf.Definition),
		Notice: lifecycleNotices[r.URL.Query().Get("done")]}
	if k := p.keptForm(w, r); k != nil { // a draft or comment sent as the session ended (kept.go)
		if k.Has("definition") {
			pg.YAML = k.Get("definition")
		}
		pg.Comment, pg.Notice = k.Get("comment"), keptNotice
	}
	p.render(w, r, http.StatusOK, "lifecycle", map[string]any{"Page": pg})
}

// definitionYAML writes a definition as the YAML a draft is typed in ("" for none).
func definitionYAML(d *catalog.Definition) string {
	if d == nil {
		return ""
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(d); err != nil {
		return ""
	}
	return buf.String()
}

// saveDraft stores the YAML typed as the service's next draft version. A person who may not
// edit the draft is refused before what they sent is read; YAML that does not parse, or a
// definition the desk refuses, shows the page again with what was typed and each error at its
// path and line.
func (p *Portal) saveDraft(w http.ResponseWriter, r *http.Request) {
	if !p.parse(w, r) {
		return
	}
	key := r.PathValue("key")
	if err := p.desk.MayEditDraft(r.Context(), actor(r), key); err != nil {
		p.fail(w, r, err)
		return
	}
	text := r.PostForm.Get("definition")
	def, root, errs := decodeDefinition(text)
	if len(errs) == 0 {
		_, err := p.desk.SaveDraft(onceFor(r, "draft", key, text), actor(r), desk.Draft{Service: key, Definition: def})
		if err == nil {
			http.Redirect(w, r, Base+"/services/"+url.PathEscape(key)+"/lifecycle?done=saved", http.StatusSeeOther)
			return
		}
		var ve *desk.ValidationError
		if !errors.As(err, &ve) {
			p.fail(w, r, err)
			return
		}
		errs = definitionErrors(ve, root)
	}
	lf, err := p.desk.LifecycleForm(r.Context(), actor(r), key)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	pg := lifecyclePage{LifecycleForm: lf, FormKey: newKey(), YAML: text, YAMLErrors: errs}
	p.render(w, r, http.StatusUnprocessableEntity, "lifecycle", map[string]any{"Page": pg})
}

// yamlLine finds the line number in the parser's messages ("yaml: line 3: ...", "line 5: field
// x not found in type catalog.Definition").
var yamlLine = regexp.MustCompile(`line (\d+): `)

// decodeDefinition reads one service definition from YAML, refusing fields it does not know.
// It answers the definition, the document's node tree (to find an error's line) and what the
// parser found wrong.
func decodeDefinition(text string) (catalog.Definition, *yaml.Node, []yamlError) {
	var def catalog.Definition
	if strings.TrimSpace(text) == "" {
		return def, nil, []yamlError{{Path: "definition", Message: "Type the service's definition (YAML)."}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(text), &root); err != nil {
		return def, nil, parserErrors(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(&def); err != nil {
		return def, &root, parserErrors(err)
	}
	return def, &root, nil
}

// parserErrors splits a YAML error into one entry per problem, each with its line.
func parserErrors(err error) []yamlError {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	out := make([]yamlError, 0, len(msgs))
	for _, m := range msgs {
		e := yamlError{Message: m}
		if loc := yamlLine.FindStringSubmatchIndex(m); loc != nil {
			e.Line, _ = strconv.Atoi(m[loc[2]:loc[3]])
			e.Message = m[:loc[0]] + m[loc[1]:]
		}
		e.Message = sentence(strings.ReplaceAll(e.Message, "catalog.", ""))
		out = append(out, e)
	}
	return out
}

// definitionErrors lists the desk's errors at their dotted path (/request/form/properties/model
// is request.form.properties.model) with the line of the nearest node the YAML has there.
func definitionErrors(ve *desk.ValidationError, root *yaml.Node) []yamlError {
	if len(ve.Fields) == 0 {
		return []yamlError{{Message: sentence(ve.Error())}}
	}
	out := make([]yamlError, 0, len(ve.Fields))
	for _, fe := range ve.Fields {
		tokens := pointerTokens(fe.Field)
		path := strings.Join(tokens, ".")
		if path == "" {
			path = "definition"
		}
		out = append(out, yamlError{Path: path, Line: lineOf(root, tokens), Message: sentence(fe.Detail)})
	}
	return out
}

// pointerTokens splits a JSON pointer into its unescaped tokens.
func pointerTokens(ptr string) []string {
	ptr = strings.TrimPrefix(ptr, "/")
	if ptr == "" {
		return nil
	}
	parts := strings.Split(ptr, "/")
	for i, s := range parts {
		parts[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(s)
	}
	return parts
}

// lineOf is the line of the node at tokens in the document, or of the deepest node on the way
// that exists (a missing field is reported where its parent is); 0 without a document.
func lineOf(root *yaml.Node, tokens []string) int {
	if root == nil {
		return 0
	}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, tok := range tokens {
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == tok {
					line, next = n.Content[i].Line, n.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
				line = next.Line
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}

// lifecycleAction takes one of the lifecycle's actions. A rejection without a comment (the one
// thing a person can fix here) shows the page again with the error beside the comment; any
// other refusal is the desk's, on a page of its own.
func (p *Portal) lifecycleAction(w http.ResponseWriter, r *http.Request) {
	if !p.parse(w, r) {
		return
	}
	key := r.PathValue("key")
	in := desk.LifecycleActionInput{Service: key, Action: r.PostForm.Get("action"), Comment: r.PostForm.Get("comment"),
		Outcome: r.PostForm.Get("outcome"), Successor: r.PostForm.Get("successor")}
	_, err := p.desk.ApplyLifecycleAction(onceFor(r, "lifecycle", key, in.Action, in.Outcome, in.Comment), actor(r), in)
	var ve *desk.ValidationError
	if errors.As(err, &ve) {
		lf, lerr := p.desk.LifecycleForm(r.Context(), actor(r), key)
		if lerr != nil {
			p.fail(w, r, lerr)
			return
		}
		pg := lifecyclePage{LifecycleForm: lf, FormKey: newKey(), YAML: definitionYAML(lf.Definition), Comment: in.Comment}
		var msgs []string
		for _, fe := range ve.Fields {
			msgs = append(msgs, sentence(fe.Detail))
		}
		if len(msgs) == 0 {
			msgs = append(msgs, sentence(ve.Error()))
		}
		pg.ActionErr = strings.Join(msgs, " ")
		p.render(w, r, http.StatusUnprocessableEntity, "lifecycle", map[string]any{"Page": pg})
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, Base+"/services/"+url.PathEscape(key)+"/lifecycle?done="+url.QueryEscape(in.Action), http.StatusSeeOther)
}
