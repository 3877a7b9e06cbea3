// Command plainserver is the benchmark baseline for Herald's public side: a
// plain net/http server that serves, from memory, the exact bytes Herald
// serves for a few paths.
//
// At start it fetches each path from a running Herald twice, once as identity
// and once with Accept-Encoding: gzip (keeping the compressed bytes), then
// serves them on its own address, choosing the gzip body when the request
// accepts gzip, with the same Content-Type and Content-Encoding. It does
// nothing else: no router, no middleware, no logging. scripts/bench.sh
// compares Herald against it.
//
// With -copy-headers it also sends every other header Herald sent when it
// was fetched (the security headers, ETag, Last-Modified, Vary...), all but
// Date and Content-Length, which net/http and the handler write: the same
// bytes as Herald's response, so the gap to Herald is Herald's own code
// (the hot path, the snapshot lookup, conditional requests, its server
// settings). scripts/bench.sh measures the target against that server, and
// against the one without -copy-headers to show what the header block
// costs on the wire.
//
//	go run ./scripts/plainserver -herald http://127.0.0.1:8080 -addr 127.0.0.1:8081
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// body is one prefetched response, in both encodings.
type body struct {
	contentType string
	identity    []byte
	gzip        []byte // exactly as Herald sent it; nil if Herald did not compress

	// For -copy-headers: Herald's headers for each encoding, less Date
	// and Content-Length, and the Content-Length values.
	identityHeader, gzipHeader http.Header
	identityLength, gzipLength []string
}

func main() {
	heraldURL := flag.String("herald", "http://127.0.0.1:8080", "base URL of the Herald to copy")
	addr := flag.String("addr", "127.0.0.1:8081", "address to serve on")
	paths := flag.String("paths", "/,/api/v2/summary.json", "comma-separated paths to copy")
	copyHeaders := flag.Bool("copy-headers", false, "send all of Herald's headers, not only Content-Type and Content-Encoding")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	bodies := map[string]*body{}
	for _, p := range strings.Split(*paths, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		b, err := fetch(ctx, strings.TrimRight(*heraldURL, "/")+p)
		if err != nil {
			log.Fatalf("plainserver: %v", err)
		}
		bodies[p] = b
		log.Printf("plainserver: %s: %s, %d bytes identity, %d bytes gzip", p, b.contentType, len(b.identity), len(b.gzip))
	}

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		hd := w.Header()
		gz := b.gzip != nil && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip")
		if *copyHeaders {
			src, out, length := b.identityHeader, b.identity, b.identityLength
			if gz {
				src, out, length = b.gzipHeader, b.gzip, b.gzipLength
			}
			for k, v := range src {
				hd[k] = v
			}
			hd["Content-Length"] = length
			w.Write(out) //nolint:errcheck // the client went away
			return
		}
		hd["Content-Type"] = []string{b.contentType}
		out := b.identity
		if gz {
			hd["Content-Encoding"] = []string{"gzip"}
			out = b.gzip
		}
		hd["Content-Length"] = []string{strconv.Itoa(len(out))}
		w.Write(out) //nolint:errcheck // the client went away
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("plainserver: %v", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx) //nolint:errcheck // exiting anyway
	}()
	log.Printf("plainserver: serving on http://%s", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("plainserver: %v", err)
	}
}

// fetch reads url as identity and as gzip.
func fetch(ctx context.Context, url string) (*body, error) {
	// DisableCompression: the transport must neither add Accept-Encoding
	// nor decompress, so the gzip bytes are Herald's own.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	get := func(enc string) (*http.Response, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, nil, err
		}
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, nil, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return resp, data, nil
	}

	resp, plain, err := get("")
	if err != nil {
		return nil, err
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		return nil, fmt.Errorf("GET %s without Accept-Encoding came back with Content-Encoding %q", url, ce)
	}
	b := &body{contentType: resp.Header.Get("Content-Type"), identity: plain,
		identityHeader: copyable(resp.Header), identityLength: []string{strconv.Itoa(len(plain))}}

	resp, gz, err := get("gzip")
	if err != nil {
		return nil, err
	}
	if resp.Header.Get("Content-Encoding") == "gzip" {
		// Check the bytes really are the gzip form of the identity body.
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			return nil, fmt.Errorf("GET %s (gzip): %w", url, err)
		}
		un, err := io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("GET %s (gzip): %w", url, err)
		}
		if !bytes.Equal(un, plain) {
			return nil, fmt.Errorf("GET %s: the gzip body does not decompress to the identity body", url)
		}
		b.gzip = gz
		b.gzipHeader, b.gzipLength = copyable(resp.Header), []string{strconv.Itoa(len(gz))}
	}
	return b, nil
}

// copyable is h without the headers net/http or the handler write.
func copyable(h http.Header) http.Header {
	out := h.Clone()
	for _, k := range []string{"Date", "Content-Length", "Connection", "Keep-Alive", "Transfer-Encoding"} {
		delete(out, k)
	}
	return out
}
