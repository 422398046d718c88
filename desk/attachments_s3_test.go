package desk

import (
	"bytes"
	"context"
	"io"
	"slices"
	"testing"

	"github.com/esmhq/esm/codec"
	"github.com/esmhq/esm/files"
	"github.com/esmhq/esm/files/filestest"
	"github.com/esmhq/esm/store/storetest"
)

// TestAttachmentsS3: the same desk, its files in a bucket of a real MinIO (bin/minio, started
// here; skipped without it, failing under CI=true) through the s3:// URL ESM_BLOB_URL takes, on
// each database: a refused upload stores nothing, a receipt is listed and downloaded by those who
// see the request (requester, approver, operator, and the fulfiller once the task opened, who
// adds the task's file) and by no one else (someone unrelated, the fulfiller before the task
// opens, a member of another group), and MinIO holds only ciphertext.
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
			read := func(who, id string) ([]byte, error) {
				_, r, err := f.desk.OpenAttachment(ctx, f.person(who), out.ID, id)
				if err != nil {
					return nil, err
				}
				defer r.Close()
				return io.ReadAll(r)
			}
			download := func(who string) ([]byte, error) { return read(who, a.ID) }
			f.openStep(t, out.ID)
			// The requester, the approver (bob, alice's manager), an operator.
			for _, who := range []string{"alice", "bob", "oscar"} {
				if got, err := download(who); err != nil || !bytes.Equal(got, pdf) {
					t.Fatalf("%s downloads: %v", who, err)
				}
			}
			// Someone who may not see the request, and a fulfiller before the task opens.
			for _, who := range []string{"erin", "flora"} {
				_, err = download(who)
				wantKind(t, err, ErrNotFound)
				_, err = f.desk.Attachments(ctx, f.person(who), out.ID)
				wantKind(t, err, ErrNotFound)
			}
			f.approve(t, out.ID, "bob")
			// The task opened: a fulfiller (flora, finance-ap) lists, downloads and adds the
			// task's file, which goes to the bucket too; a member of another group (finn,
			// finance-procurement) is refused all three.
			waitFor(t, func() bool { _, err := download("flora"); return err == nil })
			if got, err := download("flora"); err != nil || !bytes.Equal(got, pdf) {
				t.Fatalf("flora downloads: %v", err)
			}
			if l, err := f.desk.Attachments(ctx, f.person("flora"), out.ID); err != nil || len(l) != 1 {
				t.Fatalf("flora lists: %+v %v", l, err)
			}
			paid, err := f.desk.Attach(ctx, f.person("flora"), AttachInput{Request: out.ID, Files: uploads(Upload{Kind: "receipt", Name: "paid.pdf", Task: "pay", Body: bytes.NewReader(pdf)})})
			if err != nil || len(paid) != 1 || paid[0].Task != "pay" {
				t.Fatalf("flora adds a task's file: %+v %v", paid, err)
			}
			if keys := m.Keys(t, bucket); len(keys) != 2 || !slices.Contains(keys, paid[0].BlobKey) {
				t.Fatalf("the bucket holds %v, want %s and %s", keys, a.BlobKey, paid[0].BlobKey)
			}
			if got, err := read("alice", paid[0].ID); err != nil || !bytes.Equal(got, pdf) {
				t.Fatalf("alice reads the task's file: %v", err)
			}
			_, err = download("finn")
			wantKind(t, err, ErrNotFound)
			_, err = f.desk.Attachments(ctx, f.person("finn"), out.ID)
			wantKind(t, err, ErrNotFound)
			_, err = f.desk.Attach(ctx, f.person("finn"), AttachInput{Request: out.ID, Files: uploads(Upload{Kind: "receipt", Name: "x.pdf", Task: "pay", Body: bytes.NewReader(pdf)})})
			wantKind(t, err, ErrNotFound)
			if keys := m.Keys(t, bucket); len(keys) != 2 {
				t.Fatalf("a refused upload left objects: %v", keys)
			}
		})
	}
}
