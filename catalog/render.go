package catalog

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
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
		return FormatValue(v)
	})
	return out, firstErr
}

// FormatValue writes a value as people and URLs expect it inside a text: numbers in plain
// decimal notation (1500000, 0.25, never 1.5e+06), a missing value as nothing, objects and
// lists as JSON.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return FormatNumber(x)
	case float32:
		return FormatNumber(float64(x))
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return FormatNumber(f)
		}
		return x.String()
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, bool:
		return fmt.Sprint(x)
	case Money:
		return x.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// FormatNumber writes a number in plain decimal notation, as short as it can be read back
// exactly: 1500000, 19.99, 0.000001.
func FormatNumber(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
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
