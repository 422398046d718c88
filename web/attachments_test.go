package web

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// A receipt: the bytes the sniffer takes for a PDF.
var receiptPDF = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")

// part is one part of a multipart form as a browser sends it: a field, or a file (File set,
// even "" for a file input left empty).
type part struct {
	Name, Value string
	File        *string
	Body        []byte
}

func fileOf(name string) *string { return &name }

// postMultipart sends a multipart form from the portal's origin; it answers the status, the body
// and the Location of a redirect (not followed).
func (b *browser) postMultipart(path string, parts []part) (int, string) {
	b.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		if p.File == nil {
			_ = w.WriteField(p.Name, p.Value)
			continue
		}
		fw, err := w.CreateFormFile(p.Name, *p.File)
		if err != nil {
			b.t.Fatal(err)
		}
		_, _ = fw.Write(p.Body)
	}
	_ = w.Close()
	code, _, body := b.sendBody("POST", path, w.FormDataContentType(), &buf, nil)
	return code, body
}

// TestPortalAttachments: the service page offers the receipt beside the form; a submission
// with a receipt streams it to the desk; a refused type or size is said beside the input; the
// request page lists the file, the requester downloads it (attachment, nosniff) and one who may
// not see the request gets 404; a file added later is listed. On both databases.
func TestPortalAttachments(t *testing.T) { onEachDatabase(t, portalAttachments) }

func portalAttachments(t *testing.T, base string) {
	alice := newBrowser(t, base)
	alice.signIn("alice")
	page := alice.get(Base + "/services/expense-reimbursement")
	mustContain(t, page, `enctype="multipart/form-data"`, `type="file" id="file-receipt" name="receipt" accept="application/pdf,image/jpeg,image/png" data-max-bytes="10485760"`,
		"A PDF, JPEG or PNG file of 10MiB at most.", `Receipt <span class="req"`)
	key := hidden(t, page, "idempotency_key")
	fields := []part{{Name: "idempotency_key", Value: key}, {Name: "f.amount", Value: "120"}, {Name: "f.category", Value: "travel"}, {Name: "f.description", Value: "Train to the Leeds office"}}
	with := func(files ...part) []part { return append(append([]part{}, fields...), files...) }

	// No receipt (the input left empty): refused, beside the input.
	code, page := alice.postMultipart(Base+"/services/expense-reimbursement", with(part{Name: "receipt", File: fileOf("")}))
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("without a receipt: %d\n%s", code, page)
	}
	mustContain(t, page, `<p class="error" id="file-receipt-error" aria-live="polite">Choose the receipt to send with the request: the service requires one.</p>`, "choose your files again", "Train to the Leeds office")
	// Not a PDF, JPEG or PNG: the same words static/files.js says before sending.
	code, page = alice.postMultipart(Base+"/services/expense-reimbursement", with(part{Name: "receipt", File: fileOf("receipt.html"), Body: []byte("<html><script>alert(1)</script>")}))
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("an HTML receipt: %d\n%s", code, page)
	}
	mustContain(t, page, `id="file-receipt-error" aria-live="polite">This file is not a PDF, JPEG or PNG file: choose a PDF, JPEG or PNG file.</p>`, `data-bad-type="This file is not a PDF, JPEG or PNG file: choose a PDF, JPEG or PNG file."`)
	// Larger than 10MiB.
	big := append(append([]byte{}, receiptPDF...), bytes.Repeat([]byte("0"), 10<<20)...)
	code, page = alice.postMultipart(Base+"/services/expense-reimbursement", with(part{Name: "receipt", File: fileOf("huge.pdf"), Body: big}))
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("a huge receipt: %d\n%s", code, page)
	}
	mustContain(t, page, `aria-live="polite">This file is larger than 10MiB: choose one of 10MiB or less.</p>`)

	// With its receipt: submitted, and listed on the request page.
	code, page = alice.postMultipart(Base+"/services/expense-reimbursement", with(part{Name: "receipt", File: fileOf("leeds train.pdf"), Body: receiptPDF}))
	if code != http.StatusOK || !strings.Contains(page, "Your request is submitted.") {
		t.Fatalf("with a receipt: %d\n%s", code, page)
	}
	id := regexp.MustCompile(`<h1>(REQ-\d+)`).FindStringSubmatch(page)
	if id == nil {
		t.Fatalf("no request id on\n%s", page)
	}
	link := regexp.MustCompile(`href="(` + Base + `/requests/` + id[1] + `/files/att-[0-9a-f]+)" download`).FindStringSubmatch(page)
	if link == nil {
		t.Fatalf("the receipt is not listed on\n%s", page)
	}
	mustContain(t, page, "leeds train.pdf", "<td>Receipt</td>", "you", "Add a file")

	// The requester downloads it, as the API gives it.
	resp, err := alice.client.Get(base + link[1])
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, receiptPDF) {
		t.Fatalf("download: %d, %q", resp.StatusCode, got)
	}
	for h, want := range map[string]string{"Content-Type": "application/pdf", "X-Content-Type-Options": "nosniff",
		"Content-Disposition": `attachment; filename="leeds train.pdf"`, "Content-Security-Policy": "default-src 'none'; sandbox"} {
		if resp.Header.Get(h) != want {
			t.Errorf("download %s: %q, want %q", h, resp.Header.Get(h), want)
		}
	}
	// Dave may not see Alice's claim: not found, the file neither.
	dave := newBrowser(t, base)
	dave.signIn("dave")
	if code, body := dave.do("GET", link[1], nil); code != http.StatusNotFound || strings.Contains(body, "%PDF") {
		t.Fatalf("dave downloads: %d\n%s", code, body)
	}

	// A file added later: refused with its reason beside the input, then added and listed.
	code, page = alice.postMultipart(Base+"/requests/"+id[1]+"/files", []part{{Name: "receipt", File: fileOf("notes.txt"), Body: []byte("just words")}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("add a text file: %d\n%s", code, page)
	}
	mustContain(t, page, `id="file-receipt-error" aria-live="polite">This file is not a PDF, JPEG or PNG file`)
	code, page = alice.postMultipart(Base+"/requests/"+id[1]+"/files", []part{{Name: "receipt", File: fileOf("hotel.pdf"), Body: receiptPDF}})
	if code != http.StatusOK {
		t.Fatalf("add a receipt: %d\n%s", code, page)
	}
	mustContain(t, page, "Your file is added.", "leeds train.pdf", "hotel.pdf")
	// Dave cannot add to it either: not found.
	if code, _ := dave.postMultipart(Base+"/requests/"+id[1]+"/files", []part{{Name: "receipt", File: fileOf("x.pdf"), Body: receiptPDF}}); code != http.StatusNotFound {
		t.Fatalf("dave adds: %d", code)
	}
}
