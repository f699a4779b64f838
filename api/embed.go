// Package api holds the OpenAPI 3.1 document of the query API (SPEC §3),
// embedded so the binary serves the same document the repository shows.
package api

import _ "embed"

// OpenAPIYAML is openapi.yaml as written; internal/httpapi serves it as JSON
// at GET /api/openapi.json.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte
