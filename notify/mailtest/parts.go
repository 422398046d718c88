package mailtest

import (
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// parts returns the decoded text/plain and text/html bodies of a message (multipart or not).
func parts(msg *mail.Message) (text, html string) {
	var walk func(ctype, encoding string, body io.Reader)
	walk = func(ctype, encoding string, body io.Reader) {
		media, params, err := mime.ParseMediaType(ctype)
		if err != nil {
			media = "text/plain"
		}
		if strings.HasPrefix(media, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err != nil {
					return
				}
				walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
			}
		}
		var r io.Reader = body
		switch strings.ToLower(encoding) {
		case "quoted-printable":
			r = quotedprintable.NewReader(body)
		case "base64":
			r = base64.NewDecoder(base64.StdEncoding, body)
		}
		b, _ := io.ReadAll(r)
		switch media {
		case "text/plain":
			text += string(b)
		case "text/html":
			html += string(b)
		}
	}
	walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return text, html
}
