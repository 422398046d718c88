package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
)

// parsePages parses the templates once: the layout and the partials (_name.html) are shared;
// each other file is a page and defines "title" and "content".
func parsePages(funcs template.FuncMap) (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		file := path.Base(name)
		if file == "layout.html" || strings.HasPrefix(file, "_") {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, name)
		if err != nil {
			return nil, err
		}
		pages[strings.TrimSuffix(file, ".html")] = t
	}
	return pages, nil
}

func (p *Portal) funcs() template.FuncMap {
	return template.FuncMap{
		"asset": func(name string) string { return p.assets.url(name) },
		"base":  func() string { return Base },
		"when": func(t any) string {
			switch v := t.(type) {
			case time.Time:
				if v.IsZero() {
					return ""
				}
				return v.UTC().Format("2 Jan 2006 15:04 UTC")
			case *time.Time:
				if v == nil || v.IsZero() {
					return ""
				}
				return v.UTC().Format("2 Jan 2006 15:04 UTC")
			}
			return ""
		},
		// bytes: a size in words (1.2 MB, 340 KB, 12 bytes).
		"bytes": func(n int64) string {
			switch {
			case n >= 1<<20:
				return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
			case n >= 1<<10:
				return fmt.Sprintf("%d KB", (n+1<<9)>>10)
			}
			return fmt.Sprintf("%d bytes", n)
		},
		"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"words": func(s string) string { // pending_approval -> pending approval
			return strings.ReplaceAll(strings.ReplaceAll(s, "_", " "), "-", " ")
		},
		"decided":     decided,
		"money":       func(amount float64, currency string) string { return fmt.Sprintf("%.2f %s", amount, currency) },
		"join":        strings.Join,
		"terminal":    catalog.Terminal,
		"department":  departmentName,
		"humanizeKey": humanize,
		"deref":       func(b *bool) bool { return b != nil && *b },
		// show writes a form value in words: a list joined, a yes or no, JSON for the rest.
		"show": func(v any) string {
			switch x := v.(type) {
			case string:
				return x
			case bool:
				if x {
					return "yes"
				}
				return "no"
			case []any:
				parts := make([]string, len(x))
				for i, e := range x {
					parts[i] = fmt.Sprint(e)
				}
				return strings.Join(parts, ", ")
			case float64, int, int64:
				return numStr(x)
			}
			b, _ := json.Marshal(v)
			return string(b)
		},
		"hasFieldErrors": func(fs []field) bool {
			for _, f := range fs {
				if f.Error != "" {
					return true
				}
			}
			return false
		},
		// openOnly keeps the requests that have not closed.
		"openOnly": func(rows []desk.RequestRow) []desk.RequestRow {
			var out []desk.RequestRow
			for _, r := range rows {
				if !catalog.Terminal(r.Status) {
					out = append(out, r)
				}
			}
			return out
		},
		"contains": func(list []string, s string) bool {
			for _, v := range list {
				if v == s {
					return true
				}
			}
			return false
		},
	}
}

// render writes a page: data (a map) gets Me, the person signed in (none on the sign-in page),
// and Dev.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, page string, data map[string]any) {
	t, ok := p.pages[page]
	if !ok {
		panic("web: no page " + page)
	}
	if data == nil {
		data = map[string]any{}
	}
	if me := actor(r); me.ID != "" {
		data["Me"] = me
	}
	data["Dev"] = p.dev
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", data); err != nil {
		p.log.ErrorContext(r.Context(), "portal template", "page", page, "error", err)
		http.Error(w, "the page could not be shown", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// renderStatus writes a page that only says something: an error, a refusal.
func (p *Portal) renderStatus(w http.ResponseWriter, r *http.Request, status int, title, detail string) {
	p.render(w, r, status, "status", map[string]any{"Title": title, "Detail": detail, "Status": status})
}

// fail shows a desk error as a page, by its kind (the portal's one mapping, as api/problem.go
// is the API's).
func (p *Portal) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, title := statusOf(err)
	detail := err.Error()
	if status == http.StatusInternalServerError {
		p.log.ErrorContext(r.Context(), "portal", "path", r.URL.Path, "error", err)
		detail = "Something went wrong on our side. Try again in a moment."
	}
	if dep := desk.Unavailable(err); dep != "" {
		detail = dep + " did not answer. Try again in a moment."
	}
	if errors.Is(err, desk.ErrUnavailable) {
		detail = said(r, err)
	}
	p.renderStatus(w, r, status, title, detail)
}

// notAnswered is what the portal says when a workflow did not answer in time (desk's
// ErrUnavailable, whose own words speak of the API's Idempotency-Key): what was sent is with
// Temporal and takes effect once ESM's worker answers; the same form sent again is the same
// call (its key), never a second.
const notAnswered = "ESM did not answer in time (it may be busy or restarting). What you sent is kept and takes effect as soon as it answers; sending the same form again will not do it twice."

// said is a desk error in the portal's words: for ErrUnavailable, notAnswered after a form was
// sent, and only "try again" for a page read (nothing was sent); else the error's own.
func said(r *http.Request, err error) string {
	switch {
	case errors.Is(err, desk.ErrUnavailable) && r.Method == http.MethodPost:
		return notAnswered
	case errors.Is(err, desk.ErrUnavailable):
		return "ESM did not answer in time (it may be busy or restarting). Try again in a moment."
	}
	return err.Error()
}

func statusOf(err error) (int, string) {
	switch {
	case errors.Is(err, desk.ErrNotFound):
		return http.StatusNotFound, "Not found"
	case errors.Is(err, desk.ErrForbidden):
		return http.StatusForbidden, "Not allowed"
	case errors.Is(err, desk.ErrGone):
		return http.StatusGone, "No longer offered"
	case errors.Is(err, desk.ErrInvalid):
		return http.StatusBadRequest, "Not valid"
	case errors.Is(err, desk.ErrConflict):
		return http.StatusConflict, "Not possible now"
	case errors.Is(err, desk.ErrUnavailable) || desk.Unavailable(err) != "":
		return http.StatusServiceUnavailable, "Try again in a moment"
	}
	return http.StatusInternalServerError, "Something went wrong"
}

// decided says an approver's decision as what they did: approve -> approved, reject ->
// rejected, request_info -> asked for information; another word as it is, in words.
func decided(decision string) string {
	switch decision {
	case "approve":
		return "approved"
	case "reject":
		return "rejected"
	case "request_info":
		return "asked for information"
	}
	return strings.ReplaceAll(strings.ReplaceAll(decision, "_", " "), "-", " ")
}
