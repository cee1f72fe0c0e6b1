package realnode_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/stablering/stablering/test/images"
	"github.com/stablering/stablering/test/realnode"
)

// TestRealNode starts the node, runs the chat example in a pod from the run's registry, reaches
// it by its pod IP and through a Service's ClusterIP (kube-proxy), deletes it, and checks that
// Stop leaves nothing behind.
func TestRealNode(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	start := time.Now()
	c, err := realnode.Start(ctx, realnode.TestOptions(t, chatImage(t)))
	g.Expect(err).NotTo(HaveOccurred())
	t.Logf("node Ready in %s", time.Since(start).Round(time.Millisecond))
	stopped := false
	defer func() {
		if !stopped {
			g.Expect(c.Stop()).To(Succeed())
		}
	}()
	g.Expect(c.Images).To(HaveKey("chat"))
	g.Expect(c.Images["chat"]).To(MatchRegexp(`^127\.0\.0\.1:\d+/stablering/chat@sha256:[0-9a-f]{64}$`), "pods pull by digest")

	pods := c.Kube.CoreV1().Pods(metav1.NamespaceDefault)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "chat", Labels: map[string]string{"app": "chat"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "chat",
				Image: c.Images["chat"],
				Env:   []corev1.EnvVar{{Name: "LISTEN_ADDR", Value: ":8080"}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(8080)}},
					PeriodSeconds: 1,
				},
				SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr(true), AllowPrivilegeEscalation: ptr(false)},
			}},
			TerminationGracePeriodSeconds: ptr(int64(2)),
		},
	}
	start = time.Now()
	_, err = pods.Create(ctx, pod, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() bool {
		p, err := pods.Get(ctx, "chat", metav1.GetOptions{})
		if err != nil {
			return false
		}
		pod = p
		return ready(p)
	}).WithTimeout(2*time.Minute).WithPolling(200*time.Millisecond).Should(BeTrue(), "the chat pod becomes Ready")
	t.Logf("pod Ready in %s at %s", time.Since(start).Round(time.Millisecond), pod.Status.PodIP)
	g.Expect(get(ctx, fmt.Sprintf("http://%s:8080/healthz", pod.Status.PodIP))).To(Equal("ok\n"), "reached by its pod IP")

	svc, err := c.Kube.CoreV1().Services(metav1.NamespaceDefault).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "chat"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "chat"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() (string, error) {
		return get(ctx, fmt.Sprintf("http://%s/healthz", svc.Spec.ClusterIP))
	}).WithTimeout(time.Minute).WithPolling(200*time.Millisecond).Should(Equal("ok\n"), "reached through the Service's ClusterIP %s", svc.Spec.ClusterIP)

	stopped = true
	start = time.Now()
	g.Expect(c.Stop()).To(Succeed())
	t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
	g.Expect(c.Leftovers(context.Background())).To(BeEmpty(), "Stop leaves nothing behind")
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func get(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func ptr[T any](v T) *T { return &v }

// chatImage is the chat example's image.
func chatImage(t *testing.T) images.Image {
	i := slices.IndexFunc(images.OCIImages, func(img images.Image) bool { return img.Name == "chat" })
	if i < 0 {
		t.Fatal("no chat image in images.OCIImages")
	}
	return images.OCIImages[i]
}
