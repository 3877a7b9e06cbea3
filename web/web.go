// Package web holds Herald's static assets (vendored htmx 2.x and its SSE
// extension, the stylesheet, the icon), embedded in the binary and served
// under content-hashed names with long cache lifetimes.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// Assets maps asset names ("js/htmx.min.js") to their hashed URLs and serves
// them.
type Assets struct {
	byURL  map[string]*asset
	byName map[string]string
}

type asset struct {
	body, gz []byte
	ctype    string
	etag     string
}

// contentTypes are the types of the embedded assets, by extension. Not
// mime.TypeByExtension: it reads the machine's mime.types files, so a
// type would depend on the host (and the table costs 400 KB of memory for
// the life of the process).
var contentTypes = map[string]string{
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/vnd.microsoft.icon",
	".txt":  "text/plain; charset=utf-8",
	".json": "application/json",
}

// New reads and hashes every embedded asset once.
func New() (*Assets, error) {
	a := &Assets{byURL: map[string]*asset{}, byName: map[string]string{}}
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:])[:12]
		name := strings.TrimPrefix(p, "static/")
		ext := path.Ext(name)
		url := "/static/" + strings.TrimSuffix(name, ext) + "." + hash + ext
		var gz bytes.Buffer
		w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		w.Write(body) //nolint:errcheck // writes to memory
		w.Close()
		ctype, ok := contentTypes[ext]
		if !ok {
			return fmt.Errorf("web: %s: no content type for %q files (add it to contentTypes)", p, ext)
		}
		a.byURL[url] = &asset{body: body, gz: gz.Bytes(), ctype: ctype, etag: `"` + hash + `"`}
		a.byName[name] = url
		return nil
	})
	return a, err
}

// Path is the hashed URL of an asset, e.g. Path("css/herald.css").
func (a *Assets) Path(name string) string {
	if u, ok := a.byName[name]; ok {
		return u
	}
	return "/static/" + name
}

// Body is the content of the asset at a hashed URL, for the static export.
func (a *Assets) Body(url string) ([]byte, bool) {
	as, ok := a.byURL[url]
	if !ok {
		return nil, false
	}
	return as.body, true
}

// ServeHTTP serves a hashed asset with an immutable cache lifetime.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	as, ok := a.byURL[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", as.ctype)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", as.etag)
	h.Set("Vary", "Accept-Encoding")
	if r.Header.Get("If-None-Match") == as.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := as.body
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = as.gz
	}
	w.Write(body) //nolint:errcheck // the client went away
}
