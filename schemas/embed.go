package schemas

import _ "embed"

// EventV1 is the JSON Schema (draft 2020-12) of the event wire format,
// version 1, for gateways written in other languages. event.Decode is the
// reference; the schema's description lists the few rules it cannot express.
//
//go:embed event-v1.schema.json
var EventV1 string
