package topology

import (
	"os"
	"path/filepath"
	"testing"
)

// TestTLSKeyPrivate: the server's private key is 0600 whether ensureTLS makes it or finds it.
// os.WriteFile's mode applies only to a file it creates, so a key left 0644 (by an older run, a
// copy, a umask) stayed readable by everyone when it was remade, and one found valid was kept
// as it was.
func TestTLSKeyPrivate(t *testing.T) {
	dir := t.TempDir()
	f, err := ensureTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	mode := func() os.FileMode {
		st, err := os.Stat(f.Key)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode().Perm()
	}
	if m := mode(); m != 0o600 {
		t.Fatalf("a new key is %v", m)
	}
	// Found valid, but readable by others: kept, made private.
	if err := os.Chmod(f.Key, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ensureTLS(dir); err != nil {
		t.Fatal(err)
	}
	if m := mode(); m != 0o600 {
		t.Fatalf("a valid key found %v is left %v", os.FileMode(0o644), m)
	}
	// Unreadable as a key (remade over an existing 0644 file).
	if err := os.WriteFile(filepath.Join(dir, "server.key"), []byte("not a key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f.Key, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ensureTLS(dir); err != nil {
		t.Fatal(err)
	}
	if m := mode(); m != 0o600 {
		t.Fatalf("a key remade over a 0644 file is %v", m)
	}
}
