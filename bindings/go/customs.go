// Package customs evaluates container image policies in-process through
// customs' C ABI (capi/include/customs.h): load a bundle (its signature and
// version checked as the customs CLI checks them), turn tool outputs into
// facts, and evaluate, getting the decision `customs eval --format json`
// prints.
//
// The package links the static library libcustoms_capi.a, built with
//
//	cargo build --release -p customs-capi
//
// and found through CGO_LDFLAGS, for example
//
//	CGO_LDFLAGS="-L$CUSTOMS/target/release" go build ./...
//
// A gate fails closed: Evaluate returns an error when nothing was decided,
// and a caller must treat an error as a denial.
package customs

/*
#cgo CFLAGS: -I${SRCDIR}/../../capi/include
#cgo LDFLAGS: -lcustoms_capi -lm -ldl -lpthread
#include <stdlib.h>
#include "customs.h"
*/
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// Version is the version of the linked customs library.
func Version() string {
	return C.GoString(C.customs_version())
}

// EngineOptions are an engine's settings; zero values keep customs' defaults.
type EngineOptions struct {
	// Wall-clock budget of one policy evaluation, in milliseconds.
	DeadlineMs uint64 `json:"deadline_ms,omitempty"`
	// Largest memory a policy may grow to, in MiB.
	MemoryMiB uint64 `json:"memory_mib,omitempty"`
	// Where compiled policies are cached on disk; none when empty.
	CacheDir string `json:"cache_dir,omitempty"`
	// Policy instances kept ready, which is also how many WebAssembly
	// policies run at once; nil keeps the default, 0 allocates on demand.
	PoolSize *uint32 `json:"pool_size,omitempty"`
}

// Engine evaluates policies. Build one per process and share it: it is
// safe for concurrent use.
type Engine struct {
	mu  sync.RWMutex
	ptr *C.customs_engine
}

// NewEngine sets up an engine; options may be nil.
func NewEngine(options *EngineOptions) (*Engine, error) {
	var text *C.char
	if options != nil {
		encoded, err := json.Marshal(options)
		if err != nil {
			return nil, err
		}
		text = C.CString(string(encoded))
		defer C.free(unsafe.Pointer(text))
	}
	var cerr *C.char
	ptr := C.customs_engine_new(text, &cerr)
	if ptr == nil {
		return nil, takeError(cerr)
	}
	engine := &Engine{ptr: ptr}
	runtime.SetFinalizer(engine, (*Engine).Close)
	return engine, nil
}

// Close frees the engine; later calls fail. Safe to call more than once.
func (e *Engine) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ptr != nil {
		C.customs_engine_free(e.ptr)
		e.ptr = nil
	}
}

// Bundle is a loaded set of policies with their parameters and waivers.
// Evaluating it is safe for concurrent use; SetParam, SetWaivers and Close
// wait for evaluations in progress.
type Bundle struct {
	mu  sync.RWMutex
	ptr *C.customs_bundle
	// The engine that loaded it, the only one that may evaluate it.
	engine *Engine
}

func newBundle(engine *Engine, ptr *C.customs_bundle, cerr *C.char) (*Bundle, error) {
	if ptr == nil {
		return nil, takeError(cerr)
	}
	bundle := &Bundle{ptr: ptr, engine: engine}
	runtime.SetFinalizer(bundle, (*Bundle).Close)
	return bundle, nil
}

// Baseline loads the embedded baseline bundle.
func (e *Engine) Baseline() (*Bundle, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.ptr == nil {
		return nil, errClosed
	}
	var cerr *C.char
	return newBundle(e, C.customs_bundle_baseline(e.ptr, &cerr), cerr)
}

// Trust is what a bundle must satisfy to be loaded: signed by PublicKeyPEM,
// or Unsigned said outright. The zero value is refused, so a key that failed
// to arrive (an unset variable) never turns into an unchecked bundle.
type Trust struct {
	// The cosign public key (PEM) the bundle must be signed with. With it,
	// a bundle older than the version of its name accepted before is
	// refused as a rollback.
	PublicKeyPEM string `json:"public_key_pem,omitempty"`
	// Load without checking a signature.
	Unsigned bool `json:"unsigned,omitempty"`
	// The file recording accepted versions; the customs CLI's by default.
	AcceptedVersions string `json:"accepted_versions,omitempty"`
	// Accept an older signed bundle on purpose.
	AllowRollback bool `json:"allow_rollback,omitempty"`
}

// LoadBundle loads a bundle directory or archive file as trust allows.
func (e *Engine) LoadBundle(path string, trust Trust) (*Bundle, error) {
	encoded, err := json.Marshal(trust)
	if err != nil {
		return nil, err
	}
	cpath, err := cString("the bundle path", path)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cpath))
	ctrust := C.CString(string(encoded))
	defer C.free(unsafe.Pointer(ctrust))
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.ptr == nil {
		return nil, errClosed
	}
	var cerr *C.char
	return newBundle(e, C.customs_bundle_load(e.ptr, cpath, ctrust, &cerr), cerr)
}

// SetParam sets a parameter: "POLICY.PARAM" for one policy or "PARAM" for
// every policy declaring it. A parameter no policy declares is an error.
func (b *Bundle) SetParam(key, value string) error {
	ckey, err := cString("the parameter name", key)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(ckey))
	cvalue, err := cString("the parameter value", value)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cvalue))
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ptr == nil {
		return errClosed
	}
	var cerr *C.char
	if C.customs_bundle_set_param(b.ptr, ckey, cvalue, &cerr) != C.CUSTOMS_OK {
		return takeError(cerr)
	}
	return nil
}

// SetWaivers replaces the bundle's waivers with those of a waivers file's
// text (YAML, as `customs eval --waivers` reads it).
func (b *Bundle) SetWaivers(yaml string) error {
	cyaml, err := cString("the waivers", yaml)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cyaml))
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ptr == nil {
		return errClosed
	}
	var cerr *C.char
	if C.customs_bundle_set_waivers(b.ptr, cyaml, &cerr) != C.CUSTOMS_OK {
		return takeError(cerr)
	}
	return nil
}

// Close frees the bundle; later calls fail. Safe to call more than once.
func (b *Bundle) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ptr != nil {
		C.customs_bundle_free(b.ptr)
		b.ptr = nil
	}
}

// Input is one tool output: a scanner report, SBOM, image config or facts
// document.
type Input struct {
	// What the input is called in messages, such as its file name.
	Name string
	Data []byte
	// The format (as `customs formats` lists them); detected when empty.
	Format string
}

// FactsFromInputs imports tool outputs and merges them into one facts
// document (JSON), as `customs facts` does with files. Importer warnings
// are in the document's sources; signatures among the inputs are recorded
// as the tool stated them, not verified.
func FactsFromInputs(inputs []Input) ([]byte, error) {
	if len(inputs) == 0 {
		return nil, errors.New("customs: give at least one input")
	}
	// cgo may not pass Go memory holding Go pointers, so the array and
	// what it points to are copied to C memory.
	first := (*C.customs_input)(C.malloc(C.size_t(len(inputs)) * C.size_t(unsafe.Sizeof(C.customs_input{}))))
	defer C.free(unsafe.Pointer(first))
	array := unsafe.Slice(first, len(inputs))
	for i, input := range inputs {
		array[i] = C.customs_input{len: C.size_t(len(input.Data))}
		if input.Name != "" {
			name, err := cString("an input's name", input.Name)
			if err != nil {
				return nil, err
			}
			array[i].name = name
			defer C.free(unsafe.Pointer(name))
		}
		if len(input.Data) > 0 {
			array[i].data = (*C.uint8_t)(C.CBytes(input.Data))
			defer C.free(unsafe.Pointer(array[i].data))
		}
		if input.Format != "" {
			format, err := cString("an input's format", input.Format)
			if err != nil {
				return nil, err
			}
			array[i].format = format
			defer C.free(unsafe.Pointer(format))
		}
	}
	var out, cerr *C.char
	if C.customs_facts_from_inputs(first, C.size_t(len(inputs)), &out, &cerr) != C.CUSTOMS_OK {
		return nil, takeError(cerr)
	}
	defer C.customs_string_free(out)
	return []byte(C.GoString(out)), nil
}

// EvalOptions say how to evaluate; the zero value evaluates now.
type EvalOptions struct {
	// The time policies see as now (Unix seconds); the current time when nil.
	Now *int64 `json:"now,omitempty"`
	// Parts of the facts the image is denied without, such as
	// "vulnerabilities" and "config".
	Require []string `json:"require,omitempty"`
}

// Evaluate decides one image from facts (a facts document or any one tool
// output customs reads). An error means nothing was decided: treat it as a
// denial.
func (e *Engine) Evaluate(bundle *Bundle, facts []byte, options EvalOptions) (*Decision, error) {
	if bundle == nil {
		return nil, errors.New("customs: no bundle")
	}
	if bundle.engine != e {
		return nil, errors.New("customs: the bundle was loaded by another engine")
	}
	encoded, err := json.Marshal(options)
	if err != nil {
		return nil, err
	}
	coptions := C.CString(string(encoded))
	defer C.free(unsafe.Pointer(coptions))
	var data *C.uint8_t
	if len(facts) > 0 {
		// A []byte holds no Go pointers, so C may read it for the call.
		data = (*C.uint8_t)(unsafe.Pointer(&facts[0]))
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	bundle.mu.RLock()
	defer bundle.mu.RUnlock()
	if e.ptr == nil || bundle.ptr == nil {
		return nil, errClosed
	}
	var out, cerr *C.char
	code := C.customs_evaluate(e.ptr, bundle.ptr, data, C.size_t(len(facts)), coptions, &out, &cerr)
	runtime.KeepAlive(facts)
	if code != C.CUSTOMS_ALLOW && code != C.CUSTOMS_DENY {
		return nil, takeError(cerr)
	}
	defer C.customs_string_free(out)
	raw := []byte(C.GoString(out))
	decision := &Decision{}
	if err := json.Unmarshal(raw, decision); err != nil {
		return nil, fmt.Errorf("customs: unreadable decision: %w", err)
	}
	decision.JSON = raw
	// The return code decides, not a field a newer library might rename.
	decision.Allowed = code == C.CUSTOMS_ALLOW && decision.Decision == "allow"
	return decision, nil
}

// Decision is the answer about one image.
type Decision struct {
	// True only when the image may ship or run.
	Allowed bool `json:"-"`
	// "allow" or "deny".
	Decision string         `json:"decision"`
	Image    ImageRef       `json:"image"`
	Policies []PolicyReport `json:"policies"`
	Summary  Summary        `json:"summary"`
	// The decision as customs wrote it, with every field.
	JSON []byte `json:"-"`
}

// ImageRef names the decided image.
type ImageRef struct {
	Reference *string `json:"reference"`
	Digest    *string `json:"digest"`
}

// PolicyReport is what one policy found.
type PolicyReport struct {
	Name string `json:"name"`
	// "allow", "warn", "deny" or "error".
	Decision    string    `json:"decision"`
	Findings    []Finding `json:"findings"`
	Error       *string   `json:"error"`
	Failure     *string   `json:"failure"`
	Enforcement string    `json:"enforcement"`
}

// Finding is one reason for a decision.
type Finding struct {
	Rule     string  `json:"rule"`
	Effect   string  `json:"effect"`
	Severity string  `json:"severity"`
	Message  string  `json:"message"`
	Subject  *string `json:"subject"`
}

// Summary counts the policies by outcome.
type Summary struct {
	Policies int `json:"policies"`
	Denied   int `json:"denied"`
	Warned   int `json:"warned"`
	Errors   int `json:"errors"`
}

var errClosed = errors.New("customs: used after Close")

// cString copies s to C memory (the caller frees it), refusing a NUL byte,
// which C would read as the end of the string.
func cString(what, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, fmt.Errorf("customs: %s holds a NUL byte", what)
	}
	return C.CString(s), nil
}

// takeError turns a message customs returned into an error and frees it.
func takeError(cerr *C.char) error {
	if cerr == nil {
		return errors.New("customs: failed without a message")
	}
	defer C.customs_string_free(cerr)
	return errors.New("customs: " + C.GoString(cerr))
}
