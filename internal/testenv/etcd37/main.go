// Command etcd37 is a current etcd server (the version of the client
// module), built from go.etcd.io/etcd/server/v3/etcdmain so that the tests
// also run against a server newer than Debian's etcd 3.4.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
