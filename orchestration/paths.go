package orchestration

import (
	"net"
	"path"
	"strconv"
	"strings"
	"time"
)

// Node paths, relative to the orchestration root.
const (
	StateDir          = "/state"
	InstancesDir      = "/state/instances"
	DataSourcesDir    = "/state/datasources"
	ConfigDir         = "/config"
	ConfigDataSources = "/config/datasource"
	ConfigRule        = "/config/masterslave/rule"
	// ConfigShardingRule holds the sharding rule (empty: none).
	ConfigShardingRule = "/config/sharding/rule"
	ConfigProps        = "/config/props"
	ConfigAuth         = "/config/authentication"
	// MetaInstancesDir holds each instance's metadata (JSON), ephemeral like
	// the instance node, so that the seed's nodes keep their plain values.
	MetaInstancesDir = "/meta/instances"
)

// MetaPath is the metadata node of one instance.
func MetaPath(id string) string { return MetaInstancesDir + "/" + id }

// InstanceMeta is what an instance publishes about itself.
type InstanceMeta struct {
	// Address is where the proxy serves clients.
	Address string `json:"address"`
	// Admin is the admin HTTP address (health, metrics, API).
	Admin     string    `json:"admin,omitempty"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"startedAt"`
}

// Disabled is the value that disables an instance or a data source.
const Disabled = "DISABLED"

// InstancePath is the node of one instance.
func InstancePath(id string) string { return InstancesDir + "/" + id }

// DataSourcePath is the state node of one data source.
func DataSourcePath(name string) string { return DataSourcesDir + "/" + name }

// IsDisabled reports whether a node value means DISABLED.
func IsDisabled(v []byte) bool {
	return strings.EqualFold(strings.TrimSpace(string(v)), Disabled)
}

// IsRecognized reports whether a state node's value means something: empty
// (enabled) or DISABLED. Anything else ("DISABLE", "true") counts as
// enabled, and is reported so an operator's typo does not go unnoticed.
func IsRecognized(v []byte) bool {
	return len(strings.TrimSpace(string(v))) == 0 || IsDisabled(v)
}

// InstanceID is "{ip}@-@{pid}", ShardingSphere's format.
func InstanceID(ip string, pid int) string { return ip + "@-@" + strconv.Itoa(pid) }

// Root is the registry namespace of an orchestration: the registry's own
// namespace (optional; ZooKeeper deployments use one) followed by the name.
func Root(namespace, name string) string {
	return path.Clean("/" + strings.Trim(namespace, "/") + "/" + name)
}

// LocalIP returns the first non-loopback IPv4 address of an interface that
// is up, or 127.0.0.1 when there is none.
func LocalIP() string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "127.0.0.1"
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ip4 := ipn.IP.To4(); ip4 != nil && !ip4.IsLoopback() {
					return ip4.String()
				}
			}
		}
	}
	return "127.0.0.1"
}
