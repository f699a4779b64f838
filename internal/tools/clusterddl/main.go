// Command clusterddl prints the ClickHouse cluster schema (ReplicatedMergeTree
// tables behind Distributed ones) generated from schemas/clickhouse:
//
//	go run ./internal/tools/clusterddl [-database authwatch] [-cluster authwatch] > deploy/clickhouse/cluster.sql
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/authwatch/authwatch/internal/store"
)

func main() {
	db := flag.String("database", "authwatch", "database name (CLICKHOUSE_DATABASE)")
	cluster := flag.String("cluster", "authwatch", "cluster name in the servers' remote_servers")
	flag.Parse()
	ddl, err := store.ClusterDDL(*db, *cluster)
	if err != nil {
		fmt.Fprintln(os.Stderr, "clusterddl:", err)
		os.Exit(1)
	}
	fmt.Print(ddl)
}
