// Package images builds the project's images: the executables that stand in for container images
// when a simulated node runs pods as local processes (see nodesim.ProcessRuntime), and the OCI
// images of `make images` (see BuildOCI).
package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Project maps the project's images to the Go packages of their binaries, relative to the
// module root: the names make docker-build and config/ use, and the manager and gateway of the
// Helm chart's default repositories, ghcr.io/stablering (on a simulated node any tag of an
// image's repository runs its binary).
var Project = map[string]string{
	"stablering/chat:dev":            "./examples/chat",
	"stablering/manager:dev":         "./cmd/manager",
	"stablering/gateway:dev":         "./cmd/gateway",
	"ghcr.io/stablering/manager:dev": "./cmd/manager",
	"ghcr.io/stablering/gateway:dev": "./cmd/gateway",
}

// unsafeFileChars are the characters of an image reference not used in executable names.
var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Build runs `go build` in moduleRoot for each package of packages (image reference -> Go
// package, e.g. "./examples/chat"), once for all the images of a package, writing the
// executables to outDir, and returns their paths by image. An image whose package fails to build
// is left out of the result and its build output is part of the returned error, so a caller may
// go on with the others. Builds share Go's build cache, so building again is cheap.
func Build(ctx context.Context, moduleRoot, outDir string, packages map[string]string) (map[string]string, error) {
	built := map[string]string{}
	byPackage := map[string]string{} // executable by package
	var errs []error
	for _, image := range slices.Sorted(maps.Keys(packages)) {
		pkg := packages[image]
		if exe, ok := byPackage[pkg]; ok {
			built[image] = exe
			continue
		}
		exe := filepath.Join(outDir, ExecutableName(image))
		if err := goBuild(ctx, moduleRoot, exe, pkg); err != nil {
			errs = append(errs, fmt.Errorf("image %s: %w", image, err))
			continue
		}
		byPackage[pkg], built[image] = exe, exe
	}
	return built, errors.Join(errs...)
}

// ExecutableName is the file name Build gives the executable of image, e.g.
// "stablering_chat_dev" for "stablering/chat:dev".
func ExecutableName(image string) string {
	return unsafeFileChars.ReplaceAllString(image, "_")
}

// ModuleRoot returns the root directory of the main module of the working directory.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := goCommand(ctx, "", "list", "-m", "-f", "{{.Dir}}")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out), nil
}

func goBuild(ctx context.Context, moduleRoot, exe, pkg string) error {
	_, err := goCommand(ctx, moduleRoot, "build", "-o", exe, pkg)
	return err
}

// goCommand runs the go command in dir and returns its standard output; its error includes
// the standard error.
func goCommand(ctx context.Context, dir string, args ...string) (string, error) {
	return goCommandEnv(ctx, dir, nil, args...)
}

// goCommandEnv is goCommand with env added to the environment.
func goCommandEnv(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
