// Command etcd is the etcd server that the Kubernetes release pins (go.etcd.io/etcd/server/v3
// in k8s.io/kubernetes' own requirements), built from the same module graph as kube-apiserver.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
