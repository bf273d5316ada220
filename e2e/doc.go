// Package e2e holds end-to-end tests: shardgate binaries run as separate
// processes over real MariaDB replication and a real registry center
// (etcd, ZooKeeper), driven by the operators' own etcdctl and zkCli.sh.
package e2e
