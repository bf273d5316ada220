// Package version tells shardgate's version, for instance metadata.
package version

import "runtime/debug"

// version is set at link time:
// -ldflags "-X github.com/shardgate/shardgate/internal/version.version=v1.2.3".
var version string

// Version is the link-time version, else the VCS revision of the build
// ("dev-0123456789ab"), else "dev".
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}
