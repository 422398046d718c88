package catalog

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Attachments says which files a service takes with its requests (the definition's
// `attachments:` block). A file is sent under a kind: one of Required (each needs a file at
// submission) or Optional. A service without the block takes no files.
type Attachments struct {
	// Required kinds need at least one file each when the request is submitted.
	Required []string `yaml:"required,omitempty" json:"required,omitempty"`
	// Optional kinds may be sent at submission or later.
	Optional []string `yaml:"optional,omitempty" json:"optional,omitempty"`
	// MaxFiles bounds the files of one request, all kinds together (DefaultMaxFiles when 0).
	MaxFiles int `yaml:"max_files,omitempty" json:"max_files,omitempty"`
	// MaxBytes bounds each file (DefaultMaxBytes when 0): a number of bytes or "10MB", "25MiB".
	MaxBytes ByteSize `yaml:"max_bytes,omitempty" json:"max_bytes,omitempty"`
	// Types are the content types taken, as sniffed from the bytes (DefaultAttachmentTypes
	// when empty); each must be one of AttachmentTypes.
	Types []string `yaml:"types,omitempty" json:"types,omitempty"`
}

// Defaults and bounds of an attachments block.
const (
	DefaultMaxFiles = 10
	MaxMaxFiles     = 100
	DefaultMaxBytes = ByteSize(10 << 20)
	// MaxMaxBytes bounds max_bytes: 5 GiB, S3's largest single object is far above it, and the
	// files stream, so memory is no bound.
	MaxMaxBytes = ByteSize(5 << 30)
)

// AttachmentTypes are the content types a definition may take: those the sniffer
// (files.Sniff, the WHATWG algorithm) can tell from the bytes, minus markup a browser would run.
var AttachmentTypes = []string{"application/pdf", "image/jpeg", "image/png", "image/gif", "image/webp", "text/plain", "application/zip"}

// DefaultAttachmentTypes are taken when a block names none.
var DefaultAttachmentTypes = []string{"application/pdf", "image/jpeg", "image/png"}

var kindPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,39}$`)

// Kinds lists the kinds a file may be sent under: the required ones, then the optional ones.
func (a *Attachments) Kinds() []string {
	if a == nil {
		return nil
	}
	return append(append([]string{}, a.Required...), a.Optional...)
}

// Files is max_files with its default.
func (a *Attachments) Files() int {
	if a == nil {
		return 0
	}
	if a.MaxFiles == 0 {
		return DefaultMaxFiles
	}
	return a.MaxFiles
}

// Bytes is max_bytes with its default.
func (a *Attachments) Bytes() int64 {
	if a == nil {
		return 0
	}
	if a.MaxBytes == 0 {
		return int64(DefaultMaxBytes)
	}
	return int64(a.MaxBytes)
}

// TypesTaken is types with its default.
func (a *Attachments) TypesTaken() []string {
	if a == nil {
		return nil
	}
	if len(a.Types) == 0 {
		return DefaultAttachmentTypes
	}
	return a.Types
}

func (d Definition) validateAttachments(e *errs) {
	if d.Retention != 0 && d.Attachments == nil {
		e.add("retention", "requires", "retention says how long a request's files are kept: the service takes none (no attachments block)")
	}
	a := d.Attachments
	if a == nil {
		return
	}
	seen := map[string]bool{}
	for _, list := range []struct {
		name  string
		kinds []string
	}{{"required", a.Required}, {"optional", a.Optional}} {
		for i, k := range list.kinds {
			p := fmt.Sprintf("attachments.%s[%d]", list.name, i)
			if !kindPattern.MatchString(k) {
				e.add(p, "pattern", "a kind of file is lowercase letters, digits, - and _, starting with a letter, at most 40 (%q)", k)
			}
			if seen[k] {
				e.add(p, "unique", "the kind %q is named twice", k)
			}
			seen[k] = true
		}
	}
	if len(seen) == 0 {
		e.add("attachments", "required", "name the kinds of file the service takes (attachments.required or attachments.optional)")
	}
	if a.MaxFiles < 0 || a.MaxFiles > MaxMaxFiles {
		e.add("attachments.max_files", "range", "must be between 1 and %d", MaxMaxFiles)
	} else if a.Files() < len(a.Required) {
		e.add("attachments.max_files", "minimum", "must allow the %d required files", len(a.Required))
	}
	if a.MaxBytes < 0 || a.MaxBytes > MaxMaxBytes {
		e.add("attachments.max_bytes", "range", "must be between 1 byte and %s", MaxMaxBytes)
	}
	for i, t := range a.Types {
		if !slices.Contains(AttachmentTypes, t) {
			e.add(fmt.Sprintf("attachments.types[%d]", i), "enum", "%q is not a type ESM can tell from a file's bytes: one of %v", t, AttachmentTypes)
		}
	}
}

// ByteSize is a size in bytes, written as a number or with a unit: "512KB", "10MB", "25MiB",
// "1GB" (KB, MB, GB are 1000-based; KiB, MiB, GiB 1024-based).
type ByteSize int64

// ParseByteSize reads a ByteSize.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > int64(MaxMaxBytes)/mult {
		return 0, fmt.Errorf("%q is not a size (like 10MB, 25MiB, or a number of bytes up to %s)", s, MaxMaxBytes)
	}
	return ByteSize(n * mult), nil
}

func (b ByteSize) String() string {
	switch {
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b>>30)
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b>>20)
	case b >= 1<<10 && b%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", b>>10)
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// MarshalJSON writes the number of bytes.
func (b ByteSize) MarshalJSON() ([]byte, error) { return json.Marshal(int64(b)) }

// UnmarshalJSON reads a number or a string with a unit.
func (b *ByteSize) UnmarshalJSON(data []byte) error {
	var n int64
	if err := json.Unmarshal(data, &n); err == nil {
		*b = ByteSize(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("a size is a number of bytes or a string like \"10MB\"")
	}
	v, err := ParseByteSize(s)
	*b = v
	return err
}

// MarshalYAML writes the text form.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// UnmarshalYAML reads a number or a string with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a size is a number of bytes or a string like \"10MB\"", n.Line)
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}
