package nodesim

import (
	"testing"

	"github.com/go-logr/logr/testr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "EMPTY": "", "B": "$(A)"}
	for in, want := range map[string]string{
		"":               "",
		"plain":          "plain",
		"$(A)":           "a",
		"x$(A)y$(A)z":    "xayaz",
		"$(EMPTY)!":      "!",
		"$(B)":           "$(A)",
		"$$(A)":          "$(A)",
		"$$$(A)":         "$a",
		"$$":             "$",
		"$(UNKNOWN)$(A)": "$(UNKNOWN)a",
		"$()":            "$()",
		"$(A":            "$(A",
		"$A $":           "$A $",
		"100$":           "100$",
	} {
		if got := expand(in, vars); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func envPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "chat-0", Namespace: "ns", UID: "uid-1",
			Labels: map[string]string{"app": "chat"}, Annotations: map[string]string{"team": "rooms"},
		},
		Spec: corev1.PodSpec{NodeName: "nodesim", ServiceAccountName: "chat"},
	}
}

func fieldRef(path string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
}

func configMapKey(name, key string, optional bool) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: &optional,
	}}
}

func secretKey(name, key string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key,
	}}
}

func envObjects() *fake.Clientset {
	return fake.NewClientset(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "ns"}, Data: map[string]string{"MODE": "fast", "LEVEL": "3"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "ns"}, Data: map[string][]byte{"token": []byte("s3cret")}},
	)
}

func TestResolveEnvAsAKubeletDoes(t *testing.T) {
	g := NewWithT(t)
	c := &corev1.Container{
		Name: "app",
		EnvFrom: []corev1.EnvFromSource{
			{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}, Optional: ptr.To(true)}},
		},
		Env: []corev1.EnvVar{
			{Name: "A", Value: "1"},
			{Name: "B", Value: "$(A)-$(CFG_MODE)-$$(A)-$(LATER)"},
			{Name: "LATER", Value: "late"},
			{Name: "POD_NAME", ValueFrom: fieldRef("metadata.name")},
			{Name: "POD_NAMESPACE", ValueFrom: fieldRef("metadata.namespace")},
			{Name: "POD_UID", ValueFrom: fieldRef("metadata.uid")},
			{Name: "POD_IP", ValueFrom: fieldRef("status.podIP")},
			{Name: "NODE", ValueFrom: fieldRef("spec.nodeName")},
			{Name: "SA", ValueFrom: fieldRef("spec.serviceAccountName")},
			{Name: "HOST_IP", ValueFrom: fieldRef("status.hostIP")},
			{Name: "APP", ValueFrom: fieldRef("metadata.labels['app']")},
			{Name: "TEAM", ValueFrom: fieldRef("metadata.annotations['team']")},
			{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			{Name: "LEVEL", ValueFrom: configMapKey("cfg", "LEVEL", false)},
			{Name: "TOKEN", ValueFrom: secretKey("creds", "token")},
			{Name: "OPTIONAL_KEY", ValueFrom: configMapKey("cfg", "nope", true)},
			{Name: "OPTIONAL_MAP", ValueFrom: configMapKey("nope", "nope", true)},
			{Name: "A", Value: "2"},
		},
	}
	env, err := envResolver{client: envObjects(), log: testr.New(t)}.resolve(t.Context(), envPod(), c, "127.1.0.7")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(env.list()).To(Equal([]string{
		"CFG_LEVEL=3", "CFG_MODE=fast", // envFrom first, in key order
		"A=2",                    // redefined in place
		"B=1-fast-$(A)-$(LATER)", // refers to what is defined before it only
		"LATER=late",
		"POD_NAME=chat-0", "POD_NAMESPACE=ns", "POD_UID=uid-1", "POD_IP=127.1.0.7", "NODE=nodesim", "SA=chat",
		"HOST_IP=" + HostIP, "APP=chat", "TEAM=rooms",
		"LEVEL=3", "TOKEN=s3cret",
	}), "the resource field and the missing optional keys are left out")
}

func TestResolveEnvFailsOnWhatItCannotResolve(t *testing.T) {
	for name, tc := range map[string]struct {
		env    corev1.EnvVar
		client bool
		err    string
	}{
		"a missing ConfigMap":  {corev1.EnvVar{Name: "X", ValueFrom: configMapKey("nope", "MODE", false)}, true, `env X: reading ConfigMap ns/nope: configmaps "nope" not found`},
		"a missing key":        {corev1.EnvVar{Name: "X", ValueFrom: configMapKey("cfg", "nope", false)}, true, `env X: ConfigMap ns/cfg has no key "nope"`},
		"a missing Secret":     {corev1.EnvVar{Name: "X", ValueFrom: secretKey("nope", "token")}, true, `env X: reading Secret ns/nope: secrets "nope" not found`},
		"a missing Secret key": {corev1.EnvVar{Name: "X", ValueFrom: secretKey("creds", "nope")}, true, `env X: Secret ns/creds has no key "nope"`},
		"no client":            {corev1.EnvVar{Name: "X", ValueFrom: secretKey("creds", "token")}, false, "env X: no API client to read Secret ns/creds (ProcessOptions.Client)"},
		"an unknown fieldRef":  {corev1.EnvVar{Name: "X", ValueFrom: fieldRef("spec.nope")}, true, `env X: unsupported fieldRef "spec.nope"`},
	} {
		t.Run(name, func(t *testing.T) {
			r := envResolver{log: testr.New(t)}
			if tc.client {
				r.client = envObjects()
			}
			_, err := r.resolve(t.Context(), envPod(), &corev1.Container{Env: []corev1.EnvVar{tc.env}}, "127.1.0.7")
			NewWithT(t).Expect(err).To(MatchError(tc.err))
		})
	}
}

func TestResolveEnvFailsOnAMissingEnvFromSource(t *testing.T) {
	c := &corev1.Container{EnvFrom: []corev1.EnvFromSource{
		{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}},
	}}
	_, err := envResolver{client: envObjects()}.resolve(t.Context(), envPod(), c, "127.1.0.7")
	NewWithT(t).Expect(err).To(MatchError(`reading Secret ns/nope: secrets "nope" not found`))
}
