// Command images builds the OCI images of the StableRing manager and gateway and of the chat
// example without a container engine (see images.BuildOCI): static binaries cross-compiled for
// every platform, an image index per binary, all written into one OCI image layout directory.
// make images runs it:
//
//	go run ./hack/images -out bin/images -version v0.1.0 -revision $(git rev-parse HEAD)
//
// With -push it also pushes each image index to its name (make push-images, which the release
// workflow runs with -repository ghcr.io/stablering), with the credentials of docker login, and
// prints each as name@digest.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stablering/stablering/test/images"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("out", "bin/images", "the OCI image layout directory to write (replaced if it holds one)")
	version := flag.String("version", "dev", "the version stamped into the binaries, the images' tag and version label")
	revision := flag.String("revision", "", "the source revision for the images' revision label")
	repository := flag.String("repository", "stablering", "the prefix of the image names (REPOSITORY/manager:VERSION)")
	platforms := flag.String("platforms", "linux/amd64,linux/arm64", "the platforms of every image index")
	push := flag.Bool("push", false, "push each image index to REPOSITORY/NAME:VERSION with docker login's credentials")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	plats, err := images.ParsePlatforms(*platforms)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	root, err := images.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	start := time.Now()
	built, err := images.BuildOCI(ctx, root, dir, images.OCIImages, plats, images.BuildInfo{
		Version: *version, Revision: *revision, Repository: *repository,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "images: %d image indexes for %s in the OCI layout %s (%s)\n",
		len(built), strings.ReplaceAll(*platforms, ",", ", "), *out, time.Since(start).Round(100*time.Millisecond))
	if !*push {
		for _, b := range built {
			fmt.Printf("%s@%s\n", b.Ref, b.Digest)
		}
		return nil
	}
	pushed, err := images.PushLayout(ctx, dir, func(ref string) (name.Tag, error) {
		return name.NewTag(ref, name.StrictValidation)
	}, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return err
	}
	for _, p := range pushed {
		fmt.Println(p.Digest)
	}
	return nil
}
