// Command pause is the real node's pod sandbox process (the "pause" container every pod has):
// it does nothing until it is asked to stop. The project builds it into an image of its own, so
// that the node needs no image from outside the machine.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
