package nodesim

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// environment is a container's environment: variables in the order they were first defined.
type environment struct {
	names  []string
	values map[string]string
}

func newEnvironment() *environment {
	return &environment{values: map[string]string{}}
}

// set defines name, replacing an earlier definition.
func (e *environment) set(name, value string) {
	if _, ok := e.values[name]; !ok {
		e.names = append(e.names, name)
	}
	e.values[name] = value
}

// list returns the variables as NAME=value in order.
func (e *environment) list() []string {
	list := make([]string, 0, len(e.names))
	for _, name := range e.names {
		list = append(list, name+"="+e.values[name])
	}
	return list
}

// expand replaces each $(NAME) in s by the value of the variable NAME of vars, as Kubernetes
// expands a container's command, args and env values: $$ is an escaped $ (so $$(NAME) yields
// $(NAME)), and a reference to an undefined variable, like an unterminated $(, stays as written.
func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i+1:]
		end := strings.IndexByte(s, ')')
		switch {
		case s[0] == '$':
			b.WriteByte('$')
			s = s[1:]
		case s[0] == '(' && end > 0:
			name := s[1:end]
			value, ok := vars[name]
			if !ok {
				value = "$(" + name + ")"
			}
			b.WriteString(value)
			s = s[end+1:]
		default:
			b.WriteByte('$')
		}
	}
}

// envResolver computes the environment a kubelet gives a container: the variables of its envFrom
// sources, then those of its env, whose values may refer to the variables defined before them.
// ConfigMaps and Secrets are read through client; without one, a container referring to them
// fails to start. Resource fields are not supported: such variables are left out, with a log line.
type envResolver struct {
	client kubernetes.Interface
	log    logr.Logger
}

// resolve returns the environment of container c of pod, whose IP is ip.
func (r envResolver) resolve(ctx context.Context, pod *corev1.Pod, c *corev1.Container, ip string) (*environment, error) {
	env := newEnvironment()
	for _, source := range c.EnvFrom {
		if err := r.addSource(ctx, pod.Namespace, source, env); err != nil {
			return nil, err
		}
	}
	for _, v := range c.Env {
		value, ok, err := r.value(ctx, pod, ip, v, env)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", v.Name, err)
		}
		if ok {
			env.set(v.Name, value)
		}
	}
	return env, nil
}

// addSource defines a variable for each key of the ConfigMap or Secret of source.
func (r envResolver) addSource(ctx context.Context, namespace string, source corev1.EnvFromSource, env *environment) error {
	values, err := r.read(ctx, namespace, sourceRef(source))
	if err != nil {
		return err
	}
	for _, key := range slices.Sorted(maps.Keys(values)) {
		env.set(source.Prefix+key, values[key])
	}
	return nil
}

func sourceRef(source corev1.EnvFromSource) objectRef {
	if s := source.SecretRef; s != nil {
		return objectRef{kind: kindSecret, name: s.Name, optional: s.Optional}
	}
	c := ptr.Deref(source.ConfigMapRef, corev1.ConfigMapEnvSource{})
	return objectRef{kind: kindConfigMap, name: c.Name, optional: c.Optional}
}

// value returns the value of v and whether v is defined.
func (r envResolver) value(ctx context.Context, pod *corev1.Pod, ip string, v corev1.EnvVar, env *environment) (string, bool, error) {
	from := v.ValueFrom
	switch {
	case from == nil:
		return expand(v.Value, env.values), true, nil
	case from.FieldRef != nil:
		value, err := fieldValue(pod, ip, from.FieldRef.FieldPath)
		return value, err == nil, err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		return r.key(ctx, pod.Namespace, objectRef{kind: kindConfigMap, name: ref.Name, optional: ref.Optional}, ref.Key)
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		return r.key(ctx, pod.Namespace, objectRef{kind: kindSecret, name: ref.Name, optional: ref.Optional}, ref.Key)
	}
	r.log.Info("leaving out an environment variable: only value, fieldRef, configMapKeyRef and secretKeyRef are supported",
		"pod", podKey(pod), "variable", v.Name)
	return "", false, nil
}

// fieldValue returns the value of the downward API field path of pod, whose IP is ip.
func fieldValue(pod *corev1.Pod, ip, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return ip, nil
	case "status.hostIP", "status.hostIPs":
		return HostIP, nil
	}
	if key, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	if key, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	return "", fmt.Errorf("unsupported fieldRef %q", path)
}

// subscript returns key if path is field['key'].
func subscript(path, field string) (string, bool) {
	key, ok := strings.CutPrefix(path, field+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(key, "']")
}

// The kinds of objects environment variables come from.
const (
	kindConfigMap = "ConfigMap"
	kindSecret    = "Secret"
)

// objectRef refers to a ConfigMap or Secret of the pod's namespace.
type objectRef struct {
	kind     string // kindConfigMap or kindSecret
	name     string
	optional *bool // a missing optional object (or key) defines nothing
}

// key returns the value of key of the object of ref and whether it is defined.
func (r envResolver) key(ctx context.Context, namespace string, ref objectRef, key string) (string, bool, error) {
	values, err := r.read(ctx, namespace, ref)
	if err != nil {
		return "", false, err
	}
	value, ok := values[key]
	if !ok && !ptr.Deref(ref.optional, false) {
		return "", false, fmt.Errorf("%s %s/%s has no key %q", ref.kind, namespace, ref.name, key)
	}
	return value, ok, nil
}

// read returns the data of the object of ref; none if it is missing and optional.
func (r envResolver) read(ctx context.Context, namespace string, ref objectRef) (map[string]string, error) {
	if r.client == nil {
		return nil, fmt.Errorf("no API client to read %s %s/%s (ProcessOptions.Client)", ref.kind, namespace, ref.name)
	}
	values, err := r.fetch(ctx, namespace, ref)
	if apierrors.IsNotFound(err) && ptr.Deref(ref.optional, false) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s %s/%s: %w", ref.kind, namespace, ref.name, err)
	}
	return values, nil
}

func (r envResolver) fetch(ctx context.Context, namespace string, ref objectRef) (map[string]string, error) {
	if ref.kind == kindSecret {
		secret, err := r.client.CoreV1().Secrets(namespace).Get(ctx, ref.name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		values := make(map[string]string, len(secret.Data))
		for key, value := range secret.Data {
			values[key] = string(value)
		}
		return values, nil
	}
	cm, err := r.client.CoreV1().ConfigMaps(namespace).Get(ctx, ref.name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return cm.Data, nil
}
