package customs

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A real Trivy report of debian:buster from the repository's examples.
const trivyReport = "../../examples/reports/trivy-debian-buster.json"

func newEngine(t *testing.T) *Engine {
	t.Helper()
	onDemand := uint32(0)
	engine, err := NewEngine(&EngineOptions{PoolSize: &onDemand})
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	t.Cleanup(engine.Close)
	return engine
}

func readReport(t *testing.T) []byte {
	t.Helper()
	report, err := os.ReadFile(trivyReport)
	if err != nil {
		t.Fatal(err)
	}
	return report
}

func deniedRules(decision *Decision) []string {
	var rules []string
	for _, policy := range decision.Policies {
		if policy.Decision == "deny" {
			rules = append(rules, policy.Name)
		}
	}
	return rules
}

func TestVersion(t *testing.T) {
	if !strings.Contains(Version(), ".") {
		t.Fatalf("Version() = %q", Version())
	}
}

func TestBaselineDeniesTheDebianBusterReport(t *testing.T) {
	engine := newEngine(t)
	bundle, err := engine.Baseline()
	if err != nil {
		t.Fatal(err)
	}
	defer bundle.Close()
	facts, err := FactsFromInputs([]Input{{Name: "trivy-debian-buster.json", Data: readReport(t)}})
	if err != nil {
		t.Fatal(err)
	}
	now := int64(1_790_000_000) // 2026-09-21
	decision, err := engine.Evaluate(bundle, facts, EvalOptions{Now: &now})
	if err != nil {
		t.Fatal(err)
	}
	if decision.Allowed || decision.Decision != "deny" {
		t.Fatalf("allowed=%v decision=%q", decision.Allowed, decision.Decision)
	}
	if got := strings.Join(deniedRules(decision), ","); got != "no-root-user,vulnerabilities,freshness" {
		t.Fatalf("denied by %s", got)
	}
	if decision.Summary.Policies != 11 || decision.Summary.Denied != 3 {
		t.Fatalf("summary %+v", decision.Summary)
	}
	found := false
	for _, policy := range decision.Policies {
		for _, finding := range policy.Findings {
			if finding.Rule == "vulnerabilities" && strings.Contains(finding.Message, "CVE-") {
				found = true
			}
		}
	}
	if !found {
		t.Fatal("no vulnerabilities finding names a CVE")
	}
	if !strings.Contains(string(decision.JSON), `"duration_us"`) {
		t.Fatal("the raw decision lacks fields of customs eval --format json")
	}

	// The report itself evaluates the same as the facts made from it.
	direct, err := engine.Evaluate(bundle, readReport(t), EvalOptions{Now: &now})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(deniedRules(direct), ",") != strings.Join(deniedRules(decision), ",") {
		t.Fatalf("report %v, facts %v", deniedRules(direct), deniedRules(decision))
	}

	// Parameters change the decision: with a grace period longer than any
	// advisory's age, no vulnerability denies.
	if err := bundle.SetParam("vulnerabilities.grace-days", "100000"); err != nil {
		t.Fatal(err)
	}
	relaxed, err := engine.Evaluate(bundle, facts, EvalOptions{Now: &now})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(deniedRules(relaxed), ","); got != "no-root-user,freshness" {
		t.Fatalf("with grace-days, denied by %s", got)
	}
	if err := bundle.SetParam("vulnerabilities.no-such-param", "1"); err == nil ||
		!strings.Contains(err.Error(), "no-such-param") {
		t.Fatalf("an unknown parameter: %v", err)
	}
}

func TestRequiredFactsDenyWithoutThem(t *testing.T) {
	engine := newEngine(t)
	bundle := celBundle(t, engine, "true")
	facts := []byte(`{"schema_version":"1","image":{"digest":"sha256:` + strings.Repeat("a", 64) + `"}}`)
	decision, err := engine.Evaluate(bundle, facts, EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !decision.Allowed {
		t.Fatalf("a policy that always passes denied: %s", decision.JSON)
	}
	required, err := engine.Evaluate(bundle, facts, EvalOptions{Require: []string{"vulnerabilities"}})
	if err != nil {
		t.Fatal(err)
	}
	if required.Allowed || !strings.Contains(string(required.JSON), `"rule":"evidence/missing"`) {
		t.Fatalf("without a scan but requiring one: %s", required.JSON)
	}
}

// celBundle writes a one-policy CEL bundle whose one validation is expression.
func celBundle(t *testing.T, engine *Engine, expression string) *Bundle {
	t.Helper()
	dir := t.TempDir()
	policy := "name: go-test\nversion: 1.0.0\nvalidations:\n  - rule: go-test\n    expression: " + expression + "\n    message: the test rule failed\n"
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	bundle, err := engine.LoadBundle(dir, Trust{Unsigned: true})
	if err != nil {
		t.Fatalf("LoadBundle: %v", err)
	}
	t.Cleanup(bundle.Close)
	return bundle
}

func TestBadInputIsAnErrorNotADecision(t *testing.T) {
	engine := newEngine(t)
	bundle := celBundle(t, engine, "true")
	if _, err := engine.Evaluate(bundle, []byte(`{"schema_version": "1", "image": `), EvalOptions{}); err == nil ||
		!strings.Contains(err.Error(), "facts") {
		t.Fatalf("truncated JSON: %v", err)
	}
	if _, err := engine.Evaluate(bundle, nil, EvalOptions{}); err == nil {
		t.Fatal("no facts at all was decided")
	}
	if _, err := FactsFromInputs([]Input{{Name: "x.json", Data: []byte(`{}`), Format: "no-such-format"}}); err == nil ||
		!strings.Contains(err.Error(), "no-such-format") {
		t.Fatalf("unknown format: %v", err)
	}
	if _, err := engine.LoadBundle(filepath.Join(t.TempDir(), "missing"), Trust{Unsigned: true}); err == nil ||
		!strings.Contains(err.Error(), "missing") {
		t.Fatalf("a missing bundle: %v", err)
	}
	if err := bundle.SetWaivers("waivers: [unterminated"); err == nil {
		t.Fatal("broken waivers were accepted")
	}
	// A key that is not one.
	if _, err := engine.LoadBundle(t.TempDir(), Trust{PublicKeyPEM: "not a key"}); err == nil ||
		!strings.Contains(err.Error(), "PEM") {
		t.Fatalf("a bad key: %v", err)
	}
	// A NUL byte would cut the string short in C.
	if err := bundle.SetParam("x\x00y", "1"); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Fatalf("a NUL byte: %v", err)
	}
	// A bundle is evaluated by the engine that loaded it.
	other := newEngine(t)
	if _, err := other.Evaluate(bundle, []byte(`{"schema_version":"1","image":{}}`), EvalOptions{}); err == nil {
		t.Fatal("another engine evaluated the bundle")
	}
	if _, err := engine.Evaluate(nil, []byte(`{}`), EvalOptions{}); err == nil {
		t.Fatal("a nil bundle was evaluated")
	}
}

func TestConcurrentEvaluationsAgree(t *testing.T) {
	engine := newEngine(t)
	bundle, err := engine.Baseline()
	if err != nil {
		t.Fatal(err)
	}
	defer bundle.Close()
	report := readReport(t)
	now := int64(1_790_000_000)
	var wait sync.WaitGroup
	results := make([]string, 8)
	for i := range results {
		wait.Add(1)
		go func() {
			defer wait.Done()
			decision, err := engine.Evaluate(bundle, report, EvalOptions{Now: &now})
			if err != nil {
				t.Errorf("evaluation %d: %v", i, err)
				return
			}
			results[i] = strings.Join(deniedRules(decision), ",")
		}()
	}
	wait.Wait()
	for _, result := range results {
		if result != results[0] || result == "" {
			t.Fatalf("evaluations disagree: %q", results)
		}
	}
}

func TestUseAfterCloseFails(t *testing.T) {
	engine := newEngine(t)
	bundle := celBundle(t, engine, "true")
	bundle.Close()
	bundle.Close()
	if _, err := engine.Evaluate(bundle, []byte(`{"schema_version":"1","image":{}}`), EvalOptions{}); err != errClosed {
		t.Fatalf("a closed bundle: %v", err)
	}
	engine.Close()
	if _, err := engine.Baseline(); err != errClosed {
		t.Fatalf("a closed engine: %v", err)
	}
}

func TestCloseWhileEvaluating(t *testing.T) {
	engine := newEngine(t)
	bundle, err := engine.Baseline()
	if err != nil {
		t.Fatal(err)
	}
	report := readReport(t)
	var wait sync.WaitGroup
	for i := 0; i < 4; i++ {
		wait.Add(1)
		go func() {
			defer wait.Done()
			for j := 0; j < 5; j++ {
				decision, err := engine.Evaluate(bundle, report, EvalOptions{})
				if err == errClosed {
					return
				}
				if err != nil || decision.Allowed {
					t.Errorf("evaluation beside Close: %v %v", err, decision)
					return
				}
			}
		}()
	}
	bundle.Close()
	wait.Wait()
}
