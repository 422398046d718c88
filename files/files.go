// Package files keeps attachments: encrypted with the payload keys (codec) before they leave ESM,
// in a bucket opened through gocloud.dev/blob: a directory (file://, by default .data/files) or
// S3-compatible storage (s3://bucket?endpoint=...&region=...&use_path_style=true). The database
// holds only their metadata (store); a file is streamed through, never held whole in memory.
//
// It also reads what a file is (Sniff, from its bytes, never the client's word) and asks ClamAV's
// daemon whether it is infected (Clamd).
package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"

	"github.com/esmhq/esm/codec"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file://
	_ "gocloud.dev/blob/s3blob"   // s3://
	"gocloud.dev/gcerrors"
)

// Store is a bucket of encrypted files.
type Store struct {
	bucket *blob.Bucket
	codec  *codec.Codec
}

// ErrNotFound: no object of that name.
var ErrNotFound = errors.New("no such stored file")

// DefaultURL is the bucket of `make run`: a directory under dataDir (created if need be).
func DefaultURL(dataDir string) (string, error) {
	abs, err := filepath.Abs(filepath.Join(dataDir, "files"))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", err
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: "metadata=skip"}).String(), nil
}

// Open opens the bucket at rawURL (a gocloud.dev/blob URL: file:///dir or s3://bucket?...);
// objects are encrypted with c's current key and decrypted with any of its keys.
func Open(ctx context.Context, rawURL string, c *codec.Codec) (*Store, error) {
	if c == nil {
		return nil, errors.New("files: no payload keys to encrypt with")
	}
	b, err := blob.OpenBucket(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("open the file store %s: %w", redact(rawURL), err)
	}
	return &Store{bucket: b, codec: c}, nil
}

// redact drops a URL's query and user info (which may carry credentials) for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}

// Close closes the bucket.
func (s *Store) Close() error { return s.bucket.Close() }

// Writer is an object being written: Commit makes it exist, Abort makes sure it never does.
type Writer struct {
	w      *blob.Writer
	sealer *sealer
	cancel context.CancelFunc
	n      int64
	done   bool
}

// On S3 an object is written as a multipart upload whose parts are buffered in memory: each
// upload holds about (uploadConcurrency+1) parts of uploadPartSize, 15 MiB, instead of the SDK's
// default six parts of 8 MiB (48 MiB per upload). 5 MiB is S3's smallest part, so the largest
// object is 10,000 parts, about 48 GiB. The directory store ignores both.
const (
	uploadPartSize    = 5 << 20
	uploadConcurrency = 2
)

// Create starts writing the object name; nothing exists under name until Commit returns nil.
func (s *Store) Create(ctx context.Context, name string) (*Writer, error) {
	ctx, cancel := context.WithCancel(ctx)
	w, err := s.bucket.NewWriter(ctx, name, &blob.WriterOptions{
		ContentType:    "application/octet-stream",
		BufferSize:     uploadPartSize,
		MaxConcurrency: uploadConcurrency,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("store a file: %w", err)
	}
	sl, err := newSealer(w, s.codec, name)
	if err != nil {
		cancel()
		_ = w.Close()
		return nil, fmt.Errorf("store a file: %w", err)
	}
	return &Writer{w: w, sealer: sl, cancel: cancel}, nil
}

// Write encrypts p into the object.
func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.sealer.Write(p)
	w.n += int64(n)
	return n, err
}

// Size is how many plaintext bytes were written.
func (w *Writer) Size() int64 { return w.n }

// Commit seals the last segment and makes the object exist.
func (w *Writer) Commit() error {
	if w.done {
		return errors.New("files: writer already finished")
	}
	w.done = true
	defer w.cancel()
	if err := w.sealer.Close(); err != nil {
		w.cancel()
		_ = w.w.Close()
		return fmt.Errorf("store a file: %w", err)
	}
	if err := w.w.Close(); err != nil {
		return fmt.Errorf("store a file: %w", err)
	}
	return nil
}

// Abort drops what was written: the object is never created (the blob driver discards a write
// whose context ends before Close). Abort after Commit does nothing.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.cancel()
	_ = w.w.Close()
}

// Open streams the object name, decrypted. Reading fails with ErrCorrupt when it does not
// decrypt. Errors: ErrNotFound.
func (s *Store) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	r, err := s.bucket.NewReader(ctx, name, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read a stored file: %w", err)
	}
	o, err := newOpener(r, s.codec, name)
	if err != nil {
		_ = r.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{o, r}, nil
}

// OpenRaw streams the object as it is at rest (tests show it is not the file).
func (s *Store) OpenRaw(ctx context.Context, name string) (io.ReadCloser, error) {
	r, err := s.bucket.NewReader(ctx, name, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, ErrNotFound
	}
	return r, err
}

// Delete removes the object; one already gone is not an error (a retried deletion).
func (s *Store) Delete(ctx context.Context, name string) error {
	err := s.bucket.Delete(ctx, name)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("delete a stored file: %w", err)
	}
	return nil
}

// Exists reports whether the object is there.
func (s *Store) Exists(ctx context.Context, name string) (bool, error) {
	return s.bucket.Exists(ctx, name)
}
