package config

// State is the registry's state/ nodes as routing uses them: which data
// sources and whether this instance are disabled. It sits beside Config
// because both are what the registry tells every instance, and so that
// the orchestration (and the tools built on it) need no routing code.
type State struct {
	// DisabledDataSources maps a disabled data source's name to the registry
	// node that disabled it (used in error messages; may be empty).
	DisabledDataSources map[string]string
	// InstanceDisabled is the circuit breaker: every statement except
	// ROLLBACK fails at once, naming InstancePath.
	InstanceDisabled bool
	InstancePath     string
}
