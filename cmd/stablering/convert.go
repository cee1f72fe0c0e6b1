package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stablering/stablering/cmd/stablering/internal/convert"
)

func newConvertCommand(c *cli) *cobra.Command {
	var files []string
	var allNamespaces bool
	cmd := &cobra.Command{
		Use:   "convert [INGRESS...]",
		Short: "print StableRings for Ingresses that ingress-nginx hashes with upstream-hash-by",
		Long: `Reads Ingresses that ingress-nginx balances with the nginx.ingress.kubernetes.io/upstream-hash-by
annotation and prints a StableRing for each host and path, as YAML to apply: the key is the
query parameter ($arg_NAME), header ($http_NAME), cookie ($cookie_NAME) or path segment ($uri,
$request_uri) nginx hashed, and the ring's StatefulSet is the one whose pods the backend Service
selects. What routes differently is printed to stderr as a note; what cannot be converted (a key
on the client address, several variables combined, a Deployment behind the Service, cookie
affinity, ...) is printed to stderr with why. The exit code is 1 when nothing was converted.

With -f, the Ingresses come from files ("-" is stdin), with the Services and StatefulSets (and
Deployments) they lead to; convert says which it misses. Without -f, they come from the
cluster: the namespace's Ingresses (all of them, or those named), or with -A every namespace's.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var inv convert.Inventory
			var err error
			if len(files) > 0 {
				if allNamespaces {
					return usageErrorf("-A reads the cluster; it does not go with -f")
				}
				inv, err = c.inventoryFromFiles(cmd.InOrStdin(), files)
			} else {
				inv, err = c.inventoryFromCluster(cmd.Context(), allNamespaces)
			}
			if err != nil {
				return err
			}
			if len(args) > 0 {
				inv.Ingresses = slices.DeleteFunc(inv.Ingresses, func(ing networkingv1.Ingress) bool { return !slices.Contains(args, ing.Name) })
				if len(inv.Ingresses) == 0 {
					return fmt.Errorf("no Ingress named %q", args)
				}
			}
			if len(inv.Ingresses) == 0 {
				return errors.New("no Ingress to convert")
			}
			res := convert.Convert(inv)
			out, err := convert.YAML(res.Rings)
			if err != nil {
				return err
			}
			if _, err := cmd.OutOrStdout().Write(out); err != nil {
				return err
			}
			for _, f := range res.Notes {
				fmt.Fprintln(cmd.ErrOrStderr(), "note:", f)
			}
			for _, f := range res.Refused {
				fmt.Fprintln(cmd.ErrOrStderr(), "not converted:", f)
			}
			if len(res.Rings) == 0 {
				return errors.New("no Ingress converted")
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "a `file` of manifests (Ingresses, Services, StatefulSets, Deployments); - is stdin; repeatable")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "convert the Ingresses of every namespace")
	return cmd
}

// inventoryFromFiles parses the manifests of files; objects without a namespace are in that of
// -n, else "default".
func (c *cli) inventoryFromFiles(stdin io.Reader, files []string) (convert.Inventory, error) {
	ns := "default"
	if c.kube.Namespace != nil && *c.kube.Namespace != "" {
		ns = *c.kube.Namespace
	}
	var inv convert.Inventory
	for _, name := range files {
		var data []byte
		var err error
		if name == "-" {
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(name)
		}
		if err == nil {
			err = inv.Parse(data, ns)
		}
		if err != nil {
			return inv, fmt.Errorf("%s: %w", name, err)
		}
	}
	return inv, nil
}

// inventoryFromCluster lists the Ingresses of the namespace (or all namespaces) and the
// Services, StatefulSets and Deployments of their namespaces.
func (c *cli) inventoryFromCluster(ctx context.Context, allNamespaces bool) (convert.Inventory, error) {
	inv := convert.Inventory{Complete: true}
	k8s, err := c.client()
	if err != nil {
		return inv, err
	}
	var opts []client.ListOption
	if !allNamespaces {
		ns, _, err := c.kube.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			return inv, fmt.Errorf("the namespace of the kubeconfig: %w", err)
		}
		opts = append(opts, client.InNamespace(ns))
	}
	var ingresses networkingv1.IngressList
	var services corev1.ServiceList
	var sets appsv1.StatefulSetList
	var deployments appsv1.DeploymentList
	for _, list := range []client.ObjectList{&ingresses, &services, &sets, &deployments} {
		if err := k8s.List(ctx, list, opts...); err != nil {
			return inv, err
		}
	}
	inv.Ingresses, inv.Services, inv.StatefulSets, inv.Deployments = ingresses.Items, services.Items, sets.Items, deployments.Items
	return inv, nil
}
