// Package dashboard is the web page cmd/query serves at "/": login activity,
// failures, top failing IPs, live alerts, lockouts and token usage, read from
// the query API in the browser with the bearer token the user pastes. It is
// plain HTML, CSS and JavaScript embedded in the binary: no build step, no
// third-party code, nothing fetched from the network but the API itself.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var files embed.FS

// Prefix is where the page's assets are served; "/" serves the page itself.
const Prefix = "/dashboard/"

// asset is one embedded file, read once, with a content hash for ETag so a
// browser revalidates cheaply and picks up a new binary's files at once.
type asset struct {
	body        []byte
	etag        string
	contentType string
}

// Handler serves the page at "/" (and Prefix, Prefix+"index.html") and its
// assets under Prefix; anything else is a 404.
func Handler() http.Handler {
	assets := map[string]asset{}
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = http.DetectContentType(b)
		}
		assets[strings.TrimPrefix(p, "static/")] = asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, contentType: ct}
		return nil
	})
	if err != nil {
		panic("dashboard: reading embedded files: " + err.Error()) // cannot happen: go:embed checked them at build time
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name, ok := assetName(r.URL.Path)
		a, found := assets[name]
		if !ok || !found {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("ETag", a.etag)
		h.Set("Cache-Control", "no-cache")
		// The page talks to its own origin only, runs no inline script, and
		// is never framed (the token it holds must not leak to another site).
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	})
}

// assetName maps a request path to an embedded file name.
func assetName(p string) (string, bool) {
	switch p {
	case "/", Prefix, Prefix + "index.html":
		return "index.html", true
	}
	name, ok := strings.CutPrefix(p, Prefix)
	if !ok || name == "" || strings.Contains(name, "..") {
		return "", false
	}
	return name, true
}
