package web

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

// assets serves the embedded static files under a name carrying a hash of their content
// (portal.3f2a9c1d.css), so that a browser may keep each for a year and a new binary's file
// is a new URL.
type assets struct {
	files  map[string][]byte // hashed name -> content
	hashed map[string]string // name -> hashed name
}

func newAssets(static fs.FS) (*assets, error) {
	a := &assets{files: map[string][]byte{}, hashed: map[string]string{}}
	err := fs.WalkDir(static, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ext := path.Ext(name)
		h := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:])[:12] + ext
		a.files[h], a.hashed[name] = b, h
		return nil
	})
	return a, err
}

// url is where an asset is served ("htmx.min.js" -> "/portal/static/htmx.min.<hash>.js").
func (a *assets) url(name string) string {
	h, ok := a.hashed[name]
	if !ok {
		panic("web: no asset " + name) // templates are parsed and run in tests: a typo fails there
	}
	return Base + "/static/" + h
}

func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, ok := a.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	ct := mime.TypeByExtension(path.Ext(r.URL.Path))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(b)
}
