package nodesim

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// This file holds what the tests of both packages, nodesim and nodesim_test, need to run the
// echoserver (testdata/echoserver) as a pod's process.

// EchoImage is the image the tests map to the echoserver.
const EchoImage = "stablering.test/echoserver:v1"

// EchoPort is the port the echoserver of EchoContainer listens on.
const EchoPort = 8080

// EchoServer returns the path of the echoserver that TestMain built.
func EchoServer() string {
	return echoServer
}

// EchoInfo is what the echoserver answers on GET /.
type EchoInfo struct {
	PID  int               `json:"pid"`
	Args []string          `json:"args"`
	Env  map[string]string `json:"env"`
}

// EchoContainer returns a container named echo that runs the echoserver on EchoPort of its
// pod's IP with extra args, with POD_IP and POD_NAME from the downward API and a readiness probe
// on /readyz.
func EchoContainer(args ...string) corev1.Container {
	fieldRef := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	return corev1.Container{
		Name:  "echo",
		Image: EchoImage,
		Args:  append([]string{fmt.Sprintf("--listen=$(POD_IP):%d", EchoPort)}, args...),
		Env: []corev1.EnvVar{
			{Name: "POD_IP", ValueFrom: fieldRef("status.podIP")},
			{Name: "POD_NAME", ValueFrom: fieldRef("metadata.name")},
		},
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: EchoPort}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(EchoPort)},
		}},
	}
}

// GetEcho gets path from the echoserver of the pod with IP ip and returns the status code.
func GetEcho(ctx context.Context, ip, path string) (int, error) {
	resp, err := echoRequest(ctx, ip, path)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, nil
}

// GetEchoInfo asks the echoserver of the pod with IP ip about itself.
func GetEchoInfo(ctx context.Context, ip string) (EchoInfo, error) {
	var info EchoInfo
	resp, err := echoRequest(ctx, ip, "/")
	if err != nil {
		return info, err
	}
	defer resp.Body.Close()
	return info, json.NewDecoder(resp.Body).Decode(&info)
}

func echoRequest(ctx context.Context, ip, path string) (*http.Response, error) {
	url := fmt.Sprintf("http://%s%s", net.JoinHostPort(ip, fmt.Sprint(EchoPort)), path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(req)
}
