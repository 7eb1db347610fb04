package customs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A signed bundle made here with Go's standard library alone (a cosign
// blob signature is an ASN.1 ECDSA P-256 signature over the SHA-256 of the
// manifest, base64): customs must verify what another implementation signed.
func signedBundle(t *testing.T, key *ecdsa.PrivateKey, version string) string {
	t.Helper()
	dir := t.TempDir()
	policy := "name: go-signed\nversion: 1.0.0\nvalidations:\n  - rule: root\n    expression: user == null || !user.is_root\n    message: runs as root\n"
	sum := sha256.Sum256([]byte(policy))
	manifest := "name: go-signed\nversion: " + version + "\ndescription: \"\"\nminCustomsVersion: 0.1.0\nwitVersion: 0.1.0\npolicies:\n" +
		"  - path: policy.yaml\n    kind: cel\n    sha256: " + hex.EncodeToString(sum[:]) + "\n    enforcement: enforce\n"
	digest := sha256.Sum256([]byte(manifest))
	signature, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"policy.yaml":             policy,
		"customs-bundle.yaml":     manifest,
		"customs-bundle.yaml.sig": base64.StdEncoding.EncodeToString(signature),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func publicPEM(t *testing.T, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func TestSignedBundles(t *testing.T) {
	engine := newEngine(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "accepted.json")
	trust := Trust{PublicKeyPEM: publicPEM(t, key), AcceptedVersions: state}

	v2 := signedBundle(t, key, "2.0.0")
	bundle, err := engine.LoadBundle(v2, trust)
	if err != nil {
		t.Fatalf("a validly signed bundle: %v", err)
	}
	root := []byte(`{"schema_version":"1","image":{},"user":{"name":"","is_root":true}}`)
	decision, err := engine.Evaluate(bundle, root, EvalOptions{})
	if err != nil || decision.Allowed || decision.Policies[0].Findings[0].Rule != "root" {
		t.Fatalf("the signed policy's decision: %v %+v", err, decision)
	}
	bundle.Close()

	// An older version after it is a rollback, unless allowed.
	v1 := signedBundle(t, key, "1.0.0")
	if _, err := engine.LoadBundle(v1, trust); err == nil || !strings.Contains(err.Error(), "rollback") {
		t.Fatalf("an older signed bundle: %v", err)
	}
	allowing := trust
	allowing.AllowRollback = true
	if older, err := engine.LoadBundle(v1, allowing); err != nil {
		t.Fatalf("an allowed rollback: %v", err)
	} else {
		older.Close()
	}

	// The manifest changed after signing; signed by another key; no key at
	// all (an empty one is not "unsigned").
	tampered := signedBundle(t, key, "3.0.0")
	manifest := filepath.Join(tampered, "customs-bundle.yaml")
	text, _ := os.ReadFile(manifest)
	os.WriteFile(manifest, []byte(strings.Replace(string(text), `description: ""`, "description: x", 1)), 0o644)
	if _, err := engine.LoadBundle(tampered, trust); err == nil || !strings.Contains(err.Error(), "signature does not match") {
		t.Fatalf("a tampered manifest: %v", err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := engine.LoadBundle(signedBundle(t, other, "4.0.0"), trust); err == nil ||
		!strings.Contains(err.Error(), "signature does not match") {
		t.Fatalf("another key's signature: %v", err)
	}
	if _, err := engine.LoadBundle(v2, Trust{PublicKeyPEM: os.Getenv("CUSTOMS_NO_SUCH_VARIABLE")}); err == nil ||
		!strings.Contains(err.Error(), "say how the bundle is trusted") {
		t.Fatalf("an empty key: %v", err)
	}
	if unsigned, err := engine.LoadBundle(v2, Trust{Unsigned: true}); err != nil {
		t.Fatalf("an unsigned load said outright: %v", err)
	} else {
		unsigned.Close()
	}
}
