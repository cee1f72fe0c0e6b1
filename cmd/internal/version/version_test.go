package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	old := Version
	defer func() { Version = old }()
	Version = "v1.2.3"
	s := String("gateway")
	if !strings.HasPrefix(s, "gateway v1.2.3 (") || !strings.Contains(s, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) {
		t.Fatalf("String = %q", s)
	}
}
