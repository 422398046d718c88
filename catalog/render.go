package catalog

import (
	"fmt"
	"regexp"
	"strings"
)

var placeholder = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}`)

// Rendered is an HTTPCall with its placeholders filled in.
type Rendered struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    any               `json:"body,omitempty"`
}

// Render fills the call's placeholders from vars (see HTTPCall). A placeholder naming nothing is
// an error, so a call never goes out with a hole in it.
func (c HTTPCall) Render(vars map[string]any) (Rendered, error) {
	r := Rendered{Method: c.Method, Headers: map[string]string{}}
	if r.Method == "" {
		r.Method = "POST"
	}
	var err error
	if r.URL, err = renderString(c.URL, vars); err != nil {
		return r, fmt.Errorf("url: %w", err)
	}
	for k, v := range c.Headers {
		if r.Headers[k], err = renderString(v, vars); err != nil {
			return r, fmt.Errorf("header %s: %w", k, err)
		}
	}
	if c.Body != nil {
		if r.Body, err = renderValue(c.Body, vars); err != nil {
			return r, fmt.Errorf("body: %w", err)
		}
	}
	return r, nil
}

func renderValue(v any, vars map[string]any) (any, error) {
	switch x := v.(type) {
	case string:
		if m := placeholder.FindStringSubmatch(x); m != nil && m[0] == strings.TrimSpace(x) {
			return lookup(m[1], vars) // a whole placeholder keeps its type
		}
		return renderString(x, vars)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := renderValue(e, vars)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := renderValue(e, vars)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

func renderString(s string, vars map[string]any) (string, error) {
	var firstErr error
	out := placeholder.ReplaceAllStringFunc(s, func(m string) string {
		v, err := lookup(placeholder.FindStringSubmatch(m)[1], vars)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return fmt.Sprint(v)
	})
	return out, firstErr
}

func lookup(path string, vars map[string]any) (any, error) {
	var cur any = vars
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("{{%s}}: %q is not an object", path, part)
		}
		if cur, ok = m[part]; !ok {
			return nil, fmt.Errorf("{{%s}}: no %q", path, part)
		}
	}
	return cur, nil
}
