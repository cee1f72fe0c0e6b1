package gateway

import (
	"flag"
	"runtime"
)

// httpLoopsFlag sets how many HTTP event loops the gateways of the package's tests run: the
// default takes the gateway's own count, 0 serves every request on the goroutine path (make test
// runs the tests once more that way).
var httpLoopsFlag = flag.Int("http-loops", -1, "HTTP event loops of each gateway under test; -1 takes the gateway's default, 0 runs none")

func init() {
	byDefault := httpLoops
	httpLoops = func() int {
		if *httpLoopsFlag >= 0 {
			return *httpLoopsFlag
		}
		return byDefault()
	}
}

// HTTPLoops is how many HTTP event loops the gateways of the package's tests run.
func HTTPLoops() int {
	if runtime.GOOS != "linux" {
		return 0
	}
	return httpLoops()
}
