// Package schemas holds the files that define authwatch's storage and wire
// format, embedded so every binary carries the exact version it was built with.
package schemas

import "embed"

// ClickHouse holds the numbered migrations, clickhouse/NNNN_name.sql, applied in
// name order by every service on start.
//
//go:embed clickhouse/*.sql
var ClickHouse embed.FS
