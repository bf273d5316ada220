// Package config is the YAML model of a shardgate proxy: where it listens,
// who may log in, the data sources, the master/slave rule and properties.
//
// Names follow Sharding-JDBC / ShardingSphere where they fit (dataSources,
// masterSlaveRule, masterDataSourceName, slaveDataSourceNames,
// loadBalanceAlgorithmType, props) so that migrating users recognise them.
//
// Rules: defaults and validation live here and only here; Parse returns a
// fully defaulted, validated *Config or an error whose every line names the
// key path at fault (dataSources.ds_slave_1.url: ...). A *Config is treated
// as immutable once parsed: the engine keeps pointers into it inside its
// snapshots.
package config
