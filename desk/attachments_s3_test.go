package desk

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/esmhq/esm/codec"
	"github.com/esmhq/esm/files"
	"github.com/esmhq/esm/files/filestest"
	"github.com/esmhq/esm/store/storetest"
)

// TestAttachmentsS3: the same desk, its files in a bucket of a real MinIO (bin/minio, started
// here; skipped without it, failing under CI=true) through the s3:// URL ESM_BLOB_URL takes, on
// each database: a refused upload stores nothing, a receipt is listed and downloaded by those who
// see the request and by no one else, and MinIO holds only ciphertext.
func TestAttachmentsS3(t *testing.T) {
	m := filestest.StartMinIO(t)
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			bucket, url := m.Bucket(t)
			keys, err := codec.Parse(codec.NewKey("test"))
			if err != nil {
				t.Fatal(err)
			}
			fs, err := files.Open(ctx, url, keys)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = fs.Close() })
			f := newFixture(t, d, func(c *Config) { c.Files = fs })
			alice := f.person("alice")
			form := map[string]any{"amount": 120, "category": "travel", "description": "Hotel in Berlin"}
			submit := func(list ...Upload) (Submitted, error) {
				return f.desk.Submit(ctx, alice, SubmitInput{Service: "expense-reimbursement", Form: form, Files: uploads(list...)})
			}
			_, err = submit(file("receipt", "receipt.pdf", []byte("just text called a pdf")))
			wantField(t, err, "/attachments/0", "type")
			big := append(append([]byte{}, pdf...), bytes.Repeat([]byte("x"), 10<<20)...)
			_, err = submit(file("receipt", "big.pdf", big))
			wantField(t, err, "/attachments/0", "maxBytes")
			if keys := m.Keys(t, bucket); len(keys) != 0 {
				t.Fatalf("refused submissions left objects in the bucket: %v", keys)
			}

			out, err := submit(file("receipt", "receipt.pdf", pdf))
			if err != nil {
				t.Fatal(err)
			}
			list, err := f.desk.Attachments(ctx, alice, out.ID)
			if err != nil || len(list) != 1 {
				t.Fatalf("list: %v %v", list, err)
			}
			a := list[0]
			if keys := m.Keys(t, bucket); len(keys) != 1 || keys[0] != a.BlobKey {
				t.Fatalf("the bucket holds %v, want [%s]", keys, a.BlobKey)
			}
			raw := m.ReadRaw(t, bucket, a.BlobKey)
			if bytes.Contains(raw, []byte("Hotel Adlon")) || bytes.Contains(raw, []byte("%PDF")) {
				t.Fatal("the receipt is readable in MinIO")
			}
			download := func(who string) ([]byte, error) {
				_, r, err := f.desk.OpenAttachment(ctx, f.person(who), out.ID, a.ID)
				if err != nil {
					return nil, err
				}
				defer r.Close()
				return io.ReadAll(r)
			}
			for _, who := range []string{"alice", "bob", "oscar"} {
				if got, err := download(who); err != nil || !bytes.Equal(got, pdf) {
					t.Fatalf("%s downloads: %v", who, err)
				}
			}
			_, err = download("erin")
			wantKind(t, err, ErrNotFound)
		})
	}
}
