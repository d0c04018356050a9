// Command k6 is k6 with the extensions the fanout load scripts use:
// k6/x/sse (./sse). Built by deploy/tools/k6.mjs.
package main

import (
	"go.k6.io/k6/cmd"

	_ "fanout/tools/k6/sse"
)

func main() {
	cmd.Execute()
}
