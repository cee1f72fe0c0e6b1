//go:build !unix

package nodesim

import "os"

// tryLock opens path; without flock, it cannot tell whether another process uses it.
func tryLock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
}
