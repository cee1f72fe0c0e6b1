package controlplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/client-go/tools/clientcmd"
)

// ImpersonatingKubeconfig writes a kubeconfig that authenticates with the administrator's
// credentials but acts as the service account serviceAccount of namespace: user
// system:serviceaccount:<namespace>:<serviceAccount> in the groups system:serviceaccounts and
// system:serviceaccounts:<namespace> (the API server adds system:authenticated). A process using
// it has the RBAC permissions of that service account and no more, as in a pod. It returns the
// file's path, in the control plane's directory that Stop removes. The control plane must be
// running; ImpersonatingKubeconfig is safe for concurrent use.
func (c *ControlPlane) ImpersonatingKubeconfig(namespace, serviceAccount string) (string, error) {
	if c.env == nil {
		return "", errors.New("control plane is stopped")
	}
	cfg, err := clientcmd.Load(c.env.KubeConfig)
	if err != nil {
		return "", err
	}
	for _, auth := range cfg.AuthInfos {
		auth.Impersonate = serviceaccount.MakeUsername(namespace, serviceAccount)
		auth.ImpersonateGroups = serviceaccount.MakeGroupNames(namespace)
	}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return "", err
	}
	path := filepath.Join(c.dir, fmt.Sprintf("serviceaccount-%s-%s.kubeconfig", namespace, serviceAccount))
	return path, writeFileAtomically(path, data)
}

// writeFileAtomically writes data to the private file at path through a temporary file, so that
// a concurrent reader sees either the old or the new content in full.
func writeFileAtomically(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err = errors.Join(err, f.Close()); err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return errors.Join(err, os.Remove(f.Name()))
	}
	return nil
}
