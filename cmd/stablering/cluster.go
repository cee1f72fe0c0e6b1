package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/resolved"
	"github.com/stablering/stablering/internal/sleep"
)

// newConfigFlags returns kubectl's flags that choose a cluster, a user and a namespace
// (--kubeconfig, --context, --cluster, --user, -s/--server, -n/--namespace, --request-timeout),
// without those that replace the kubeconfig's credentials and TLS settings.
func newConfigFlags() *genericclioptions.ConfigFlags {
	f := genericclioptions.NewConfigFlags(false)
	f.CacheDir, f.CertFile, f.KeyFile, f.CAFile, f.BearerToken = nil, nil, nil, nil, nil
	f.Impersonate, f.ImpersonateUID, f.ImpersonateGroup, f.ImpersonateUserExtra = nil, nil, nil, nil
	f.Insecure, f.TLSServerName, f.DisableCompression, f.Username, f.Password = nil, nil, nil, nil, nil
	return f
}

// ringKey resolves ref, NAME or NAMESPACE/NAME, into a namespace and name; the namespace
// defaults to that of the cluster flags (-n, else the kubeconfig's context).
func (c *cli) ringKey(ref string) (types.NamespacedName, error) {
	ns, name, qualified := strings.Cut(ref, "/")
	if !qualified {
		name = ns
		var err error
		if ns, _, err = c.kube.ToRawKubeConfigLoader().Namespace(); err != nil {
			return types.NamespacedName{}, fmt.Errorf("the namespace of the kubeconfig: %w", err)
		}
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return types.NamespacedName{}, usageErrorf("ring %q: namespace %q: %s (want NAME or NAMESPACE/NAME)", ref, ns, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return types.NamespacedName{}, usageErrorf("ring %q: name %q: %s (want NAME or NAMESPACE/NAME)", ref, name, strings.Join(errs, "; "))
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}

// client returns a client of the cluster the flags name, knowing StableRings and the built-in
// types.
func (c *cli) client() (client.Client, error) {
	cfg, err := c.kube.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

// getRing reads the StableRing ref names, and returns it with the client it used.
func (c *cli) getRing(ctx context.Context, ref string) (*v1alpha1.StableRing, client.Client, error) {
	key, k8s, err := c.ringClient(ref)
	if err != nil {
		return nil, nil, err
	}
	sr, err := readRing(ctx, k8s, key)
	return sr, k8s, err
}

// getRingAndMembers reads the StableRing ref names and its members (see readResolved), and
// returns them with the client it used.
func (c *cli) getRingAndMembers(ctx context.Context, ref string) (*v1alpha1.StableRing, memberList, client.Client, error) {
	key, k8s, err := c.ringClient(ref)
	if err != nil {
		return nil, memberList{}, nil, err
	}
	sr, members, err := readResolved(ctx, k8s, key)
	return sr, members, k8s, err
}

// getResolvedRing reads the StableRing ref names with its members, for commands that route by
// them: members that cannot be read are an error.
func (c *cli) getResolvedRing(ctx context.Context, ref string) (*resolved.Ring, error) {
	sr, members, _, err := c.getRingAndMembers(ctx, ref)
	if err != nil {
		return nil, err
	}
	if members.err != nil {
		return nil, members.err
	}
	return &resolved.Ring{StableRing: sr, Members: members.list}, nil
}

// ringClient resolves ref (see ringKey) and returns a client of the cluster.
func (c *cli) ringClient(ref string) (types.NamespacedName, client.Client, error) {
	key, err := c.ringKey(ref)
	if err != nil {
		return key, nil, err
	}
	k8s, err := c.client()
	return key, k8s, err
}

// readRing reads the StableRing key names.
func readRing(ctx context.Context, k8s client.Client, key types.NamespacedName) (*v1alpha1.StableRing, error) {
	sr := &v1alpha1.StableRing{}
	if err := k8s.Get(ctx, key, sr); err != nil {
		return nil, fmt.Errorf("StableRing %s: %w", key, err)
	}
	return sr, nil
}

// memberList are a ring's members; err says why they are unknown.
type memberList struct {
	list []v1alpha1.Member
	err  error
}

// Reading a ring and its MemberSlices again, when they are of two resolutions, is tried
// resolveAttempts times, resolveRetry apart: about as long as the controller takes to retry a
// status write that conflicted after its slices were written.
const (
	resolveAttempts = 5
	resolveRetry    = 200 * time.Millisecond
)

// readResolved reads the StableRing key names and assembles its members from the MemberSlices
// of its namespace that its status names. The controller writes a ring's slices before the
// status that names them, so a read of the two can fall between its writes and find a slice
// missing or at another version than status names: both are read again then, and if they still
// are not of one resolution, the members are unknown (members.err says why). err is an error of
// the API server.
func readResolved(ctx context.Context, k8s client.Client, key types.NamespacedName) (*v1alpha1.StableRing, memberList, error) {
	for attempt := 1; ; attempt++ {
		sr, err := readRing(ctx, k8s, key)
		if err != nil {
			return nil, memberList{}, err
		}
		slices := &v1alpha1.MemberSliceList{}
		if err := k8s.List(ctx, slices, client.InNamespace(key.Namespace)); err != nil {
			return nil, memberList{}, fmt.Errorf("the MemberSlices of StableRing %s: %w", key, err)
		}
		rings, err := resolved.Assemble([]v1alpha1.StableRing{*sr}, slices.Items)
		if err == nil {
			return sr, memberList{list: rings[0].Members}, nil
		}
		if attempt == resolveAttempts || !sleep.For(ctx, resolveRetry) {
			return sr, memberList{err: err}, nil
		}
	}
}
