package main

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stablering/stablering/api/v1alpha1"
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
	key, err := c.ringKey(ref)
	if err != nil {
		return nil, nil, err
	}
	k8s, err := c.client()
	if err != nil {
		return nil, nil, err
	}
	sr := &v1alpha1.StableRing{}
	if err := k8s.Get(ctx, key, sr); err != nil {
		return nil, nil, fmt.Errorf("StableRing %s: %w", key, err)
	}
	return sr, k8s, nil
}
