// Command demogeo writes the demo GeoIP City database that `make run` points
// GEOIP_CITY_DB at; it covers the address ranges cmd/loadgen uses.
package main

import (
	"fmt"
	"os"

	"github.com/authwatch/authwatch/internal/geotest"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: demogeo OUT.mmdb")
		os.Exit(2)
	}
	if err := geotest.Write(os.Args[1], geotest.Demo); err != nil {
		fmt.Fprintln(os.Stderr, "demogeo:", err)
		os.Exit(1)
	}
}
