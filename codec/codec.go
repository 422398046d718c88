// Package codec encrypts every Temporal payload ESM writes (workflow inputs, results, update and
// query arguments, activity inputs, summaries) with AES-256-GCM, so form data and comments are
// unreadable in Temporal's database. Keys have ids; the first key encrypts, every key decrypts,
// so a key is rotated by putting a new one first and keeping the old ones until their histories
// are gone. The API serves the same codec to the Temporal UI at /codec, for operators only.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// Metadata of an encrypted payload.
const (
	MetadataEncoding = "binary/encrypted"
	MetadataKeyID    = "encryption-key-id"
)

// Codec is a converter.PayloadCodec that encrypts with AES-256-GCM.
type Codec struct {
	current string
	keys    map[string]cipher.AEAD
	// raw holds the key bytes, from which DeriveKey derives per-object keys (never used as
	// they are for anything but the payloads' AES-GCM).
	raw map[string][]byte
}

// Parse reads keys written "id:base64key,id2:base64key2" (32-byte keys); the first encrypts.
func Parse(spec string) (*Codec, error) {
	c := &Codec{keys: map[string]cipher.AEAD{}, raw: map[string][]byte{}}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, b64, ok := strings.Cut(part, ":")
		if !ok || id == "" {
			return nil, errors.New("payload keys are written id:base64key,id2:base64key2")
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("payload key %s must be 32 bytes, base64", id)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		if _, dup := c.keys[id]; dup {
			return nil, fmt.Errorf("payload key %s is given twice", id)
		}
		c.keys[id] = aead
		c.raw[id] = key
		if c.current == "" {
			c.current = id
		}
	}
	if c.current == "" {
		return nil, errors.New("no payload key")
	}
	return c, nil
}

// CurrentKeyID is the id of the key that encrypts (the first of the spec).
func (c *Codec) CurrentKeyID() string { return c.current }

// DeriveKey derives a 32-byte key from the payload key id with HKDF-SHA256 over salt, for
// purpose (a fixed label such as "esm attachment v1"), so that another use of the payload keys
// (attachments at rest, package files) never encrypts with the payload key itself nor reuses a
// nonce of it. Errors: no key of that id (kept keys decrypt after a rotation, as for payloads).
func (c *Codec) DeriveKey(id string, salt []byte, purpose string) ([]byte, error) {
	raw, ok := c.raw[id]
	if !ok {
		return nil, fmt.Errorf("no payload key %q: keep old keys after a rotation", id)
	}
	return hkdf.Key(sha256.New, raw, salt, purpose, 32)
}

// NewKey returns a fresh key spec "id:base64key".
func NewKey(id string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return id + ":" + base64.StdEncoding.EncodeToString(b)
}

// DataConverter is the default converter with this codec.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// Encode encrypts each payload with the current key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.keys[c.current]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{converter.MetadataEncoding: []byte(MetadataEncoding), MetadataKeyID: []byte(c.current)},
			Data:     aead.Seal(nonce, nonce, plain, []byte(c.current)),
		}
	}
	return out, nil
}

// Decode decrypts the payloads this codec encrypted and passes the others through.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != MetadataEncoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead, ok := c.keys[id]
		if !ok {
			return nil, fmt.Errorf("no payload key %q: keep old keys after a rotation", id)
		}
		if len(p.Data) < aead.NonceSize() {
			return nil, errors.New("encrypted payload too short")
		}
		nonce, sealed := p.Data[:aead.NonceSize()], p.Data[aead.NonceSize():]
		plain, err := aead.Open(nil, nonce, sealed, []byte(id))
		if err != nil {
			return nil, fmt.Errorf("decrypt payload with key %s: %w", id, err)
		}
		var dec commonpb.Payload
		if err := proto.Unmarshal(plain, &dec); err != nil {
			return nil, err
		}
		out[i] = &dec
	}
	return out, nil
}
