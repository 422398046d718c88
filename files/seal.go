package files

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/esmhq/esm/codec"
)

// The format of an object at rest (version 1):
//
//	header:   "ESMF" | 0x01 | len(key id) (1 byte) | key id | salt (32 bytes)
//	segments: AES-256-GCM(segment) of SegmentSize plaintext bytes each (the last one shorter,
//	          possibly empty), each 16 bytes longer than its plaintext
//
// The object's key is HKDF-SHA256(payload key of that id, salt, "esm attachment v1"): a fresh
// key per object, so nonces are a counter: the segment index (8 bytes, big endian), three zero
// bytes and a final flag (1 on the last segment, 0 on the others). The additional data of every
// segment is the header and the object's name in the bucket, so a segment cannot be moved,
// dropped, reordered or truncated, nor an object renamed, without Open failing. Memory is one
// segment whatever the size of the file.
const (
	SegmentSize = 64 << 10
	magic       = "ESMF"
	version     = 1
	saltSize    = 32
	tagSize     = 16
	purpose     = "esm attachment v1"
)

// ErrCorrupt: an object is not in the format above, or does not decrypt (wrong key, altered,
// truncated, renamed).
var ErrCorrupt = errors.New("the stored file does not decrypt: altered, truncated or not ESM's")

func nonce(i uint64, final bool) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n, i)
	if final {
		n[11] = 1
	}
	return n
}

func objectAEAD(c *codec.Codec, id string, salt []byte) (cipher.AEAD, error) {
	key, err := c.DeriveKey(id, salt, purpose)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealer encrypts what is written to it into w, segment by segment.
type sealer struct {
	w     io.Writer
	aead  cipher.AEAD
	ad    []byte
	buf   []byte // plaintext of the segment being filled
	out   []byte
	index uint64
	err   error
}

// newSealer writes the header to w and returns a writer that encrypts into w; Close seals the
// final segment (it does not close w).
func newSealer(w io.Writer, c *codec.Codec, name string) (*sealer, error) {
	id := c.CurrentKeyID()
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	header := append([]byte(magic), version, byte(len(id)))
	header = append(header, id...)
	header = append(header, salt...)
	aead, err := objectAEAD(c, id, salt)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(header); err != nil {
		return nil, err
	}
	return &sealer{w: w, aead: aead, ad: append(header, name...), buf: make([]byte, 0, SegmentSize), out: make([]byte, 0, SegmentSize+tagSize)}, nil
}

func (s *sealer) seal(final bool) error {
	s.out = s.aead.Seal(s.out[:0], nonce(s.index, final), s.buf, s.ad)
	s.index++
	s.buf = s.buf[:0]
	_, err := s.w.Write(s.out)
	return err
}

func (s *sealer) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n := 0
	for len(p) > 0 {
		if len(s.buf) == SegmentSize { // more follows: this segment is not the last
			if s.err = s.seal(false); s.err != nil {
				return n, s.err
			}
		}
		k := copy(s.buf[len(s.buf):SegmentSize], p)
		s.buf = s.buf[:len(s.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

// Close seals the last segment.
func (s *sealer) Close() error {
	if s.err != nil {
		return s.err
	}
	s.err = s.seal(true)
	if s.err == nil {
		s.err = errors.New("sealer closed")
		return nil
	}
	return s.err
}

// opener decrypts an object read from r.
type opener struct {
	r     *bufio.Reader
	aead  cipher.AEAD
	ad    []byte
	in    []byte
	plain []byte // decrypted, not yet read
	index uint64
	done  bool
}

func newOpener(r io.Reader, c *codec.Codec, name string) (*opener, error) {
	br := bufio.NewReaderSize(r, SegmentSize+tagSize+1)
	head := make([]byte, len(magic)+2)
	if _, err := io.ReadFull(br, head); err != nil || string(head[:4]) != magic || head[4] != version {
		return nil, ErrCorrupt
	}
	rest := make([]byte, int(head[5])+saltSize)
	if _, err := io.ReadFull(br, rest); err != nil {
		return nil, ErrCorrupt
	}
	id, salt := string(rest[:head[5]]), rest[head[5]:]
	aead, err := objectAEAD(c, id, salt)
	if err != nil {
		return nil, err
	}
	header := append(head, rest...)
	return &opener{r: br, aead: aead, ad: append(header, name...), in: make([]byte, SegmentSize+tagSize)}, nil
}

func (o *opener) Read(p []byte) (int, error) {
	for len(o.plain) == 0 {
		if o.done {
			return 0, io.EOF
		}
		n, err := io.ReadFull(o.r, o.in)
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			err = nil
		}
		if err != nil {
			return 0, fmt.Errorf("read the stored file: %w", err)
		}
		final := n < len(o.in)
		if !final {
			if _, perr := o.r.Peek(1); perr == io.EOF {
				final = true
			} else if perr != nil {
				return 0, fmt.Errorf("read the stored file: %w", perr)
			}
		}
		if n < tagSize {
			return 0, ErrCorrupt
		}
		plain, err := o.aead.Open(o.in[:0], nonce(o.index, final), o.in[:n], o.ad)
		if err != nil {
			return 0, ErrCorrupt
		}
		o.index++
		o.plain, o.done = plain, final
	}
	n := copy(p, o.plain)
	o.plain = o.plain[n:]
	return n, nil
}
