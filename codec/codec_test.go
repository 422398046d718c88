package codec

import (
	"bytes"
	"testing"

	"go.temporal.io/sdk/converter"
)

func TestRoundTripAndRotation(t *testing.T) {
	old := NewKey("k1")
	c1, err := Parse(old)
	if err != nil {
		t.Fatal(err)
	}
	dc := c1.DataConverter()
	p, err := dc.ToPayload(map[string]string{"reason": "my secret reason"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Data, []byte("secret")) || string(p.Metadata[converter.MetadataEncoding]) != MetadataEncoding {
		t.Fatalf("not encrypted: %q", p.Data)
	}
	// Rotation: a new key first, the old one kept: old payloads still decode, new ones use k2.
	c2, err := Parse(NewKey("k2") + "," + old)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := c2.DataConverter().FromPayload(p, &got); err != nil || got["reason"] != "my secret reason" {
		t.Fatalf("decode after rotation: %v %v", got, err)
	}
	p2, _ := c2.DataConverter().ToPayload("x")
	if string(p2.Metadata[MetadataKeyID]) != "k2" {
		t.Errorf("encrypted with %s", p2.Metadata[MetadataKeyID])
	}
	// Without the old key, old payloads do not decode; a tampered payload does not either.
	c3, _ := Parse(NewKey("k3"))
	if err := c3.DataConverter().FromPayload(p, &got); err == nil {
		t.Error("decoded without the key")
	}
	p.Data[len(p.Data)-1] ^= 1
	if err := c2.DataConverter().FromPayload(p, &got); err == nil {
		t.Error("a tampered payload decoded")
	}
	for _, bad := range []string{"", "k1", "k1:short", "k1:" + NewKey("x")[2:] + ",k1:" + NewKey("y")[2:]} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
