// Package orchestration connects a shardgate instance to its registry
// center: it resolves the configuration (local file or registry), registers
// the instance, and turns the registry's state and config nodes into live
// changes of the routing runtime.
//
// Layout under the root ({namespace}/{name}; DESIGN.md §3):
//
//	state/instances/{ip}@-@{pid}   ephemeral, "" or DISABLED (circuit breaker)
//	state/datasources/{ds}         persistent, "" or DISABLED (out of rotation)
//	config/datasource              YAML: every data source by name
//	config/masterslave/rule        YAML: the master/slave rule
//	config/props                   YAML: behaviour switches
//	config/authentication          YAML: users that may log in
//
// Values are plain text so that zkCli.sh and etcdctl work. DISABLED is
// matched ignoring case and surrounding white space; anything else, or an
// absent node, means enabled.
//
// Updates follow one rule: watchers only record what they saw and signal a
// capacity-1 trigger; one updater rebuilds the whole desired state from
// that record and hands it to the runtime, which publishes an immutable
// snapshot. A config that does not validate is rejected and the last good
// one stays in force.
package orchestration
