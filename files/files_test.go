package files_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/esmhq/esm/codec"
	"github.com/esmhq/esm/files"
	"github.com/esmhq/esm/files/filestest"
)

func keys(t testing.TB, spec string) *codec.Codec {
	t.Helper()
	c, err := codec.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// backend is where a test's store keeps its objects, with a way around ESM to the bytes at rest.
type backend struct {
	url    string                                    // the gocloud.dev/blob URL files.Open takes
	raw    func(t testing.TB, name string) []byte    // the object as stored
	setRaw func(t testing.TB, name string, b []byte) // replace the object, bypassing ESM
	// heap is the most the heap may hold while a 1 GiB file streams through: a few segments
	// on the directory; on S3 also the upload's part buffers (files.Create: three of 5 MiB)
	// and the garbage they leave until the next collection, far from the file's size.
	heap uint64
}

// dirBackend is a local directory, the default store (file://).
func dirBackend(t testing.TB) backend {
	t.Helper()
	data := t.TempDir()
	url, err := files.DefaultURL(data)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(data, "files")
	return backend{
		url:  url,
		heap: 64 << 20,
		raw: func(t testing.TB, name string) []byte {
			t.Helper()
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		setRaw: func(t testing.TB, name string, b []byte) {
			t.Helper()
			if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), b, 0o600); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// s3Backend is a new bucket on a real MinIO, through the s3:// URL ESM_BLOB_URL takes; the bytes
// at rest are read and written with the AWS SDK's own client.
func s3Backend(t testing.TB, m *filestest.MinIO) backend {
	t.Helper()
	bucket, url := m.Bucket(t)
	return backend{
		url:    url,
		heap:   128 << 20,
		raw:    func(t testing.TB, name string) []byte { return m.ReadRaw(t, bucket, name) },
		setRaw: func(t testing.TB, name string, b []byte) { m.WriteRaw(t, bucket, name, b) },
	}
}

func openAt(t testing.TB, url string, c *codec.Codec) *files.Store {
	t.Helper()
	s, err := files.Open(context.Background(), url, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// storeTests run on every backend: TestX on the directory, TestS3/X on MinIO.
var storeTests = map[string]func(*testing.T, backend){
	"RoundTripAndAtRest": testRoundTripAndAtRest,
	"Tamper":             testTamper,
	"Rotation":           testRotation,
	"Abort":              testAbort,
	"LargeFileStreams":   testLargeFileStreams,
}

func TestRoundTripAndAtRest(t *testing.T) { testRoundTripAndAtRest(t, dirBackend(t)) }
func TestTamper(t *testing.T)             { testTamper(t, dirBackend(t)) }
func TestRotation(t *testing.T)           { testRotation(t, dirBackend(t)) }
func TestAbort(t *testing.T)              { testAbort(t, dirBackend(t)) }
func TestLargeFileStreams(t *testing.T)   { testLargeFileStreams(t, dirBackend(t)) }

// TestS3 runs the store tests against a real S3-compatible server: bin/minio, started here
// (skipped without it, failing under CI=true), one bucket per test.
func TestS3(t *testing.T) {
	m := filestest.StartMinIO(t)
	for _, name := range []string{"RoundTripAndAtRest", "Tamper", "Rotation", "Abort", "LargeFileStreams"} {
		t.Run(name, func(t *testing.T) { storeTests[name](t, s3Backend(t, m)) })
	}
}

func put(t testing.TB, s *files.Store, name string, data []byte) {
	t.Helper()
	w, err := s.Create(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

func get(s *files.Store, name string) ([]byte, error) {
	r, err := s.Open(context.Background(), name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// Every size around the segment boundaries comes back as it went in; at rest it is not there.
func testRoundTripAndAtRest(t *testing.T, b backend) {
	c := keys(t, codec.NewKey("k1"))
	s := openAt(t, b.url, c)
	for _, n := range []int{0, 1, 100, files.SegmentSize - 1, files.SegmentSize, files.SegmentSize + 1, 3 * files.SegmentSize, 3*files.SegmentSize + 7} {
		data := bytes.Repeat([]byte("receipt 42.50 EUR "), n/18+1)[:n]
		name := "req/REQ-000001/" + strings.Repeat("x", n%7+1)
		put(t, s, name, data)
		got, err := get(s, name)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("size %d: got %d bytes, %v", n, len(got), err)
		}
		raw := b.raw(t, name)
		if n > 20 && bytes.Contains(raw, data[:20]) {
			t.Fatalf("size %d: the file is readable at rest", n)
		}
		if !bytes.HasPrefix(raw, []byte("ESMF\x01\x02k1")) {
			t.Fatalf("size %d: header %q", n, raw[:8])
		}
	}
}

// Altered, truncated, extended or renamed objects, or a store without the key, do not decrypt.
func testTamper(t *testing.T, b backend) {
	c := keys(t, codec.NewKey("k1"))
	s := openAt(t, b.url, c)
	data := make([]byte, 2*files.SegmentSize+10)
	_, _ = rand.Read(data)
	put(t, s, "a", data)
	raw := b.raw(t, "a")
	cases := map[string][]byte{
		"flipped":          flip(raw, len(raw)/2),
		"truncated":        raw[:len(raw)-5],
		"last segment cut": raw[:len(raw)-(10+16)],
		"extended":         append(append([]byte{}, raw...), raw[60:200]...),
	}
	for what, bad := range cases {
		b.setRaw(t, "b", bad)
		if _, err := get(s, "b"); !errors.Is(err, files.ErrCorrupt) {
			t.Errorf("%s: want ErrCorrupt, got %v", what, err)
		}
	}
	// The same bytes under another name: the name is bound to them.
	b.setRaw(t, "b", raw)
	if _, err := get(s, "b"); !errors.Is(err, files.ErrCorrupt) {
		t.Errorf("renamed: want ErrCorrupt, got %v", err)
	}
	// Another key of the same id.
	other := openAt(t, b.url, keys(t, codec.NewKey("k1")))
	if _, err := get(other, "a"); !errors.Is(err, files.ErrCorrupt) {
		t.Errorf("wrong key: want ErrCorrupt, got %v", err)
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 1
	return c
}

// After a rotation the new key encrypts and the old one still decrypts what it encrypted.
func testRotation(t *testing.T, b backend) {
	old := codec.NewKey("k1")
	s1 := openAt(t, b.url, keys(t, old))
	put(t, s1, "old", []byte("signed before the rotation"))
	s2 := openAt(t, b.url, keys(t, codec.NewKey("k2")+","+old))
	put(t, s2, "new", []byte("after"))
	for name, want := range map[string]string{"old": "signed before the rotation", "new": "after"} {
		if got, err := get(s2, name); err != nil || string(got) != want {
			t.Fatalf("%s: %q %v", name, got, err)
		}
	}
	raw := b.raw(t, "new")
	if !bytes.HasPrefix(raw, []byte("ESMF\x01\x02k2")) {
		t.Fatalf("the new key does not encrypt: %q", raw[:8])
	}
	if _, err := get(s1, "new"); err == nil {
		t.Fatal("a store without k2 decrypted a file k2 encrypted")
	}
}

// An aborted write leaves nothing.
func testAbort(t *testing.T, b backend) {
	s := openAt(t, b.url, keys(t, codec.NewKey("k1")))
	w, err := s.Create(context.Background(), "gone")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(bytes.Repeat([]byte("x"), 3*files.SegmentSize))
	w.Abort()
	if ok, err := s.Exists(context.Background(), "gone"); ok || err != nil {
		t.Fatalf("an aborted file exists: %v %v", ok, err)
	}
	if _, err := get(s, "gone"); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
}

// A file far larger than the memory the test allows streams in and out through pipes; the heap
// never holds more than b.heap of it (1 GiB; 64 MiB with -short).
func testLargeFileStreams(t *testing.T, b backend) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 64 << 20
	}
	s := openAt(t, b.url, keys(t, codec.NewKey("k1")))
	src := io.LimitReader(pattern{}, size)
	in := sha256.New()
	w, err := s.Create(context.Background(), "big")
	if err != nil {
		t.Fatal(err)
	}
	peak := watchHeap(t)
	if _, err := io.Copy(io.MultiWriter(w, in), src); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(context.Background(), "big")
	if err != nil {
		t.Fatal(err)
	}
	out := sha256.New()
	n, err := io.Copy(out, r)
	_ = r.Close()
	if err != nil || n != size {
		t.Fatalf("read back %d bytes of %d: %v", n, size, err)
	}
	if !bytes.Equal(in.Sum(nil), out.Sum(nil)) {
		t.Fatal("the file came back different")
	}
	p := peak()
	t.Logf("%d MiB streamed in and out, heap peak %d MiB", size>>20, p>>20)
	if p > b.heap {
		t.Fatalf("the heap grew to %d MiB for a %d MiB file: something holds it whole", p>>20, size>>20)
	}
}

type pattern struct{}

func (pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i * 7)
	}
	return len(p), nil
}

// watchHeap samples HeapInuse until the returned func is called, which answers the peak.
func watchHeap(t *testing.T) func() uint64 {
	stop := make(chan struct{})
	done := make(chan uint64)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				done <- peak
				return
			default:
				runtimeSleep()
			}
		}
	}()
	return func() uint64 { close(stop); return <-done }
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"receipt.pdf":                     "receipt.pdf",
		"../../etc/passwd":                "passwd",
		`C:\Users\ana\scan 1.png`:         "scan 1.png",
		"a\"b;c\r\nd.pdf":                 "a_b_c__d.pdf",
		"...hidden":                       "hidden",
		"":                                "file",
		"..":                              "file",
		"reçu été.jpg":                    "reçu été.jpg",
		"bad\xffutf8.pdf":                 "bad_utf8.pdf",
		strings.Repeat("é", 200) + ".pdf": strings.Repeat("é", 88) + ".pdf",
	} {
		if got := files.SafeName(in); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSniff(t *testing.T) {
	for want, head := range map[string][]byte{
		"application/pdf": []byte("%PDF-1.7\n..."),
		"image/png":       []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
		"image/jpeg":      []byte("\xff\xd8\xff\xe0\x00\x10JFIF"),
		"text/plain":      []byte("just words, called receipt.pdf"),
		"text/html":       []byte("<html><script>alert(1)</script>"),
	} {
		if got := files.Sniff(head); got != want {
			t.Errorf("Sniff(%q) = %q, want %q", head, got, want)
		}
	}
}

// A real clamd calls EICAR infected and a receipt clean, streamed in chunks.
func TestClamd(t *testing.T) {
	addr := filestest.StartClamd(t, "")
	c := files.Clamd{Addr: addr}
	scan := func(data []byte) error {
		s, err := c.Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = s.Write(data)
		return s.Verdict()
	}
	var inf *files.Infected
	if err := scan(filestest.EICAR); !errors.As(err, &inf) || inf.Signature != "Esm.Test.EICAR.UNOFFICIAL" {
		t.Fatalf("EICAR: %v", err)
	}
	if err := scan(bytes.Repeat([]byte("%PDF-1.4 receipt "), 10000)); err != nil {
		t.Fatalf("a clean file: %v", err)
	}
	bad := files.Clamd{Addr: "127.0.0.1:1"}
	if _, err := bad.Start(context.Background()); !errors.Is(err, files.ErrScan) {
		t.Fatalf("no clamd: %v", err)
	}
}
