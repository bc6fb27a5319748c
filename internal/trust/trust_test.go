package trust

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gows-dev/gows/internal/testcert"
)

func TestRoots(t *testing.T) {
	dir := t.TempDir()
	certPEM, _ := testcert.PEM(t)
	good := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(good, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if roots, err := Roots(good); err != nil || roots == nil {
		t.Fatalf("Roots(%s) = %v, %v; want a pool", good, roots, err)
	}
	if _, err := Roots(notPEM); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("Roots(not PEM) = %v, want no PEM certificate", err)
	}
	if _, err := Roots(filepath.Join(dir, "missing.pem")); !os.IsNotExist(err) {
		t.Fatalf("Roots(missing) = %v, want a not-exist error", err)
	}
}
