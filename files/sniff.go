package files

import (
	"net/http"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SniffLen is how many leading bytes Sniff needs.
const SniffLen = 512

// Sniff names the content type of a file from its first bytes (at most SniffLen), by the WHATWG
// MIME sniffing algorithm (net/http.DetectContentType): PDF, JPEG, PNG, GIF, WebP, ZIP, text...
// Parameters are dropped ("text/plain; charset=utf-8" is "text/plain"). The client's word is
// never asked.
func Sniff(head []byte) string {
	t := http.DetectContentType(head)
	if i := strings.IndexByte(t, ';'); i >= 0 {
		t = t[:i]
	}
	return strings.TrimSpace(t)
}

// MaxNameBytes bounds a sanitised name.
const MaxNameBytes = 180

// SafeName makes a name a client sent safe to store and to give back in a
// Content-Disposition header: only its last path element (either slash), letters, digits,
// spaces and . - _ ( ) kept, anything else (controls, quotes, separators, invalid UTF-8) an
// underscore, no leading dots or spaces, at most MaxNameBytes bytes (the extension kept), and
// "file" when nothing is left.
func SafeName(name string) string {
	name = strings.ToValidUTF8(name, "_")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-' || r == '_' || r == '(' || r == ')':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte(' ')
		default:
			b.WriteByte('_')
		}
	}
	name = strings.TrimLeft(strings.TrimSpace(b.String()), ". ")
	if len(name) > MaxNameBytes {
		ext := path.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		stem := name[:MaxNameBytes-len(ext)]
		for !utf8.ValidString(stem) {
			stem = stem[:len(stem)-1]
		}
		name = strings.TrimSpace(stem) + ext
	}
	if name == "" || name == "." || name == ".." {
		return "file"
	}
	return name
}
