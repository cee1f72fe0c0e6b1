package install_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/stablering/stablering/test/install"
)

// TestSecurityContext checks that the Deployments of the chart (with defaults and with every
// feature on) and of config/default run as non-root on a read-only root filesystem without
// privilege escalation or capabilities, under the RuntimeDefault seccomp profile, with resources
// and probes on named ports.
func TestSecurityContext(t *testing.T) {
	manifests := map[string]func(t *testing.T) []byte{"kustomize": renderKustomize}
	for _, c := range chartCases {
		manifests["chart "+c.name] = func(t *testing.T) []byte { return renderChart(t, c.args...) }
	}
	for name, render := range manifests {
		t.Run(name, func(t *testing.T) {
			deployments := ofKind(decoded(t, render(t)), "Deployment")
			if len(deployments) != 2 {
				t.Fatalf("rendered %d Deployments, want the manager and the gateway", len(deployments))
			}
			for _, obj := range deployments {
				var d appsv1.Deployment
				typed(t, obj, &d)
				checkPodSecurity(t, d.Name, &d.Spec.Template.Spec)
			}
		})
	}
}

func checkPodSecurity(t *testing.T, name string, pod *corev1.PodSpec) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("%s: pod securityContext.runAsNonRoot is not true", name)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod seccompProfile is not RuntimeDefault", name)
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Errorf("%s: uses a host namespace", name)
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("%s: %d containers and %d init containers, want one container", name, len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatalf("%s: container %s has no securityContext", name, c.Name)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("%s: allowPrivilegeEscalation is not false", name)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Errorf("%s: readOnlyRootFilesystem is not true", name)
	case sc.Privileged != nil && *sc.Privileged:
		t.Errorf("%s: privileged", name)
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("%s: capabilities are %+v, want drop [ALL] and nothing added", name, sc.Capabilities)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: resources %+v lack a CPU or memory request or a memory limit", name, c.Resources)
	}
	for what, probe := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if probe == nil || probe.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s probe", name, what)
			continue
		}
		if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == probe.HTTPGet.Port.StrVal }) {
			t.Errorf("%s: %s probe port %s is not a named container port", name, what, probe.HTTPGet.Port.String())
		}
	}
}

// TestChartManagerArgs checks that the manager elects a leader in the release namespace and
// serves its probes and metrics where the Deployment says.
func TestChartManagerArgs(t *testing.T) {
	for _, c := range chartCases {
		t.Run(c.name, func(t *testing.T) {
			d := deployment(t, decoded(t, renderChart(t, c.args...)), "manager")
			ctr := d.Spec.Template.Spec.Containers[0]
			for _, want := range []string{"--leader-elect", "--leader-election-namespace=" + releaseNamespace} {
				if !slices.Contains(ctr.Args, want) {
					t.Errorf("manager args %q lack %s", ctr.Args, want)
				}
			}
			for _, p := range ctr.Ports {
				flag := map[string]string{"metrics": "--metrics-bind-address", "health": "--health-probe-bind-address"}[p.Name]
				if want := flag + "=:" + strconv.Itoa(int(p.ContainerPort)); !slices.Contains(ctr.Args, want) {
					t.Errorf("manager args %q lack %s for port %s", ctr.Args, want, p.Name)
				}
			}
		})
	}
}

// TestChartGatewayEnv checks gateway.extraEnv reaches the gateway's container, alone and after
// the POD_IP that bindPodIP adds.
func TestChartGatewayEnv(t *testing.T) {
	podIP := corev1.EnvVar{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}
	gogc := corev1.EnvVar{Name: "GOGC", Value: "400"}
	for _, c := range []struct {
		name string
		args []string
		want []corev1.EnvVar
	}{
		{"defaults", nil, nil},
		{"extraEnv", []string{"--set", "gateway.extraEnv[0].name=GOGC", "--set-string", "gateway.extraEnv[0].value=400"}, []corev1.EnvVar{gogc}},
		{"bindPodIP and extraEnv", []string{"--set", "bindPodIP=true", "--set", "gateway.extraEnv[0].name=GOGC", "--set-string", "gateway.extraEnv[0].value=400"},
			[]corev1.EnvVar{podIP, gogc}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := deployment(t, decoded(t, renderChart(t, c.args...)), "gateway")
			if got := d.Spec.Template.Spec.Containers[0].Env; !equality.Semantic.DeepEqual(got, c.want) {
				t.Errorf("gateway env = %+v, want %+v", got, c.want)
			}
		})
	}
}

func deployment(t *testing.T, objs []*unstructured.Unstructured, component string) *appsv1.Deployment {
	t.Helper()
	for _, obj := range ofKind(objs, "Deployment") {
		if obj.GetLabels()["app.kubernetes.io/component"] == component {
			var d appsv1.Deployment
			typed(t, obj, &d)
			return &d
		}
	}
	t.Fatalf("no %s Deployment", component)
	return nil
}

// gatewayRules are all the gateway may do: read StableRings and their MemberSlices.
var gatewayRules = []rbacv1.PolicyRule{{APIGroups: []string{"ring.stablering.io"}, Resources: []string{"stablerings", "memberslices"}, Verbs: []string{"get", "list", "watch"}}}

// rulesOf reads the rules of an RBAC manifest in the repository.
func rulesOf(t *testing.T, path string) []rbacv1.PolicyRule {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole // a Role's rules read the same
	if err := yaml.UnmarshalStrict(data, &role); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return role.Rules
}

// TestChartRBAC checks least privilege: the manager gets exactly the rules controller-gen
// generated into config/rbac/role.yaml (cluster-wide, or in each watched namespace) plus the
// leader-election Role in the release namespace; the gateway may only get, list and watch
// StableRings; every binding names a ServiceAccount of the release.
func TestChartRBAC(t *testing.T) {
	managerRules := rulesOf(t, "config/rbac/role.yaml")
	leaderRules := rulesOf(t, "config/rbac/leader_election_role.yaml")
	cases := []struct {
		name       string
		args       []string
		namespaces []string // where the manager and gateway Roles go; nil: ClusterRoles
	}{
		{"all namespaces", nil, nil},
		{"watched namespaces", []string{"-f", allFeaturesValues}, []string{"team-a", "team-b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs := decoded(t, renderChart(t, c.args...))
			want := map[string][]rbacv1.PolicyRule{
				"Role " + releaseNamespace + "/stablering-manager-leader-election": leaderRules,
			}
			if c.namespaces == nil {
				want["ClusterRole stablering-manager"] = managerRules
				want["ClusterRole stablering-gateway"] = gatewayRules
			}
			for _, ns := range c.namespaces {
				want["Role "+ns+"/stablering-manager"] = managerRules
				want["Role "+ns+"/stablering-gateway"] = gatewayRules
			}
			got := map[string][]rbacv1.PolicyRule{}
			for _, obj := range append(ofKind(objs, "ClusterRole"), ofKind(objs, "Role")...) {
				var role rbacv1.ClusterRole
				typed(t, obj, &role)
				got[roleID(obj.GetKind(), obj.GetNamespace(), obj.GetName())] = role.Rules
			}
			for id, rules := range want {
				if !equality.Semantic.DeepEqual(got[id], rules) {
					t.Errorf("%s rules:\n got %+v\nwant %+v", id, got[id], rules)
				}
			}
			for id := range got {
				if _, ok := want[id]; !ok {
					t.Errorf("unexpected %s", id)
				}
			}
			checkBindings(t, objs, got)
		})
	}
}

func roleID(kind, namespace, name string) string {
	if namespace == "" {
		return kind + " " + name
	}
	return kind + " " + namespace + "/" + name
}

// checkBindings checks that every binding grants a rendered role to a rendered ServiceAccount of
// the release, and that every role is bound.
func checkBindings(t *testing.T, objs []*unstructured.Unstructured, roles map[string][]rbacv1.PolicyRule) {
	t.Helper()
	accounts := map[string]bool{}
	for _, sa := range ofKind(objs, "ServiceAccount") {
		accounts[sa.GetNamespace()+"/"+sa.GetName()] = true
	}
	bound := map[string]bool{}
	for _, obj := range append(ofKind(objs, "ClusterRoleBinding"), ofKind(objs, "RoleBinding")...) {
		var b rbacv1.RoleBinding // a ClusterRoleBinding reads the same
		typed(t, obj, &b)
		role := roleID(b.RoleRef.Kind, obj.GetNamespace(), b.RoleRef.Name)
		if _, ok := roles[role]; !ok {
			t.Errorf("%s %s binds %s, which the chart does not render", obj.GetKind(), b.Name, role)
		}
		bound[role] = true
		for _, s := range b.Subjects {
			if s.Kind != rbacv1.ServiceAccountKind || !accounts[s.Namespace+"/"+s.Name] {
				t.Errorf("%s %s binds %s %s/%s, not a ServiceAccount of the release", obj.GetKind(), b.Name, s.Kind, s.Namespace, s.Name)
			}
		}
		if !strings.HasPrefix(b.Name, "stablering-") || len(b.Subjects) != 1 {
			t.Errorf("%s %s: want one subject and the release's name prefix", obj.GetKind(), b.Name)
		}
	}
	for role := range roles {
		if !bound[role] {
			t.Errorf("%s is not bound", role)
		}
	}
}

// TestKustomizeGatewayRBAC checks that config/default lets the gateway only get, list and watch
// StableRings. (Its manager ClusterRole is config/rbac/role.yaml itself.)
func TestKustomizeGatewayRBAC(t *testing.T) {
	var found bool
	for _, obj := range ofKind(decoded(t, renderKustomize(t)), "ClusterRole") {
		if obj.GetName() != "stablering-gateway" {
			continue
		}
		found = true
		var role rbacv1.ClusterRole
		typed(t, obj, &role)
		if !equality.Semantic.DeepEqual(role.Rules, gatewayRules) {
			t.Errorf("ClusterRole stablering-gateway rules %+v, want %+v", role.Rules, gatewayRules)
		}
	}
	if !found {
		t.Error("config/default has no ClusterRole stablering-gateway")
	}
}

// TestChartGatewayService checks that the gateway's Service targets the proxy port, that the
// admin endpoints are only on the in-cluster admin Service, and that the ServiceMonitor scrapes
// that Service's admin port.
func TestChartGatewayService(t *testing.T) {
	for _, c := range chartCases {
		t.Run(c.name, func(t *testing.T) {
			objs := decoded(t, renderChart(t, c.args...))
			gw := deployment(t, objs, "gateway")
			services := componentServices(t, objs, gw)
			main, admin := services["stablering-gateway"], services["stablering-gateway-admin"]
			if main == nil || admin == nil || len(services) != 2 {
				t.Fatalf("Services %v, want stablering-gateway and stablering-gateway-admin", keys(services))
			}
			if len(main.Spec.Ports) != 1 || main.Spec.Ports[0].TargetPort.StrVal != "proxy" {
				t.Errorf("Service %s ports %+v, want only the proxy port", main.Name, main.Spec.Ports)
			}
			if admin.Spec.Type != corev1.ServiceTypeClusterIP || len(admin.Spec.Ports) != 1 || admin.Spec.Ports[0].TargetPort.StrVal != "admin" {
				t.Errorf("Service %s: type %s ports %+v, want a ClusterIP with the admin port", admin.Name, admin.Spec.Type, admin.Spec.Ports)
			}
			if sm := componentServiceMonitor(objs, "gateway"); sm != nil {
				checkServiceMonitor(t, sm, admin, main)
			}
		})
	}
}

// TestChartManagerServiceMonitor checks that the manager's ServiceMonitor, when enabled, comes
// with a ClusterIP Service of the manager pods' metrics port, and scrapes that port.
func TestChartManagerServiceMonitor(t *testing.T) {
	for _, c := range chartCases {
		t.Run(c.name, func(t *testing.T) {
			objs := decoded(t, renderChart(t, c.args...))
			manager := deployment(t, objs, "manager")
			services := componentServices(t, objs, manager)
			sm := componentServiceMonitor(objs, "manager")
			if sm == nil {
				if len(services) != 0 {
					t.Errorf("Services %v of the manager without its ServiceMonitor", keys(services))
				}
				return
			}
			metrics := services["stablering-manager"]
			if metrics == nil || len(services) != 1 {
				t.Fatalf("Services %v of the manager, want stablering-manager", keys(services))
			}
			if metrics.Spec.Type != corev1.ServiceTypeClusterIP || len(metrics.Spec.Ports) != 1 || metrics.Spec.Ports[0].TargetPort.StrVal != "metrics" {
				t.Errorf("Service %s: type %s ports %+v, want a ClusterIP with the metrics port", metrics.Name, metrics.Spec.Type, metrics.Spec.Ports)
			}
			checkServiceMonitor(t, sm, metrics)
		})
	}
}

// componentServices returns the Services that select the pods of deploy, by name; a Service that
// selects them only in part is an error.
func componentServices(t *testing.T, objs []*unstructured.Unstructured, deploy *appsv1.Deployment) map[string]*corev1.Service {
	t.Helper()
	services := map[string]*corev1.Service{}
	component := deploy.Spec.Template.Labels["app.kubernetes.io/component"]
	for _, obj := range ofKind(objs, "Service") {
		var s corev1.Service
		typed(t, obj, &s)
		if s.Spec.Selector["app.kubernetes.io/component"] != component {
			continue
		}
		if !labelsMatch(s.Spec.Selector, deploy.Spec.Template.Labels) {
			t.Errorf("Service %s selects %v, not the %s pods", s.Name, s.Spec.Selector, component)
		}
		services[s.Name] = &s
	}
	return services
}

// componentServiceMonitor returns the ServiceMonitor of component, or nil.
func componentServiceMonitor(objs []*unstructured.Unstructured, component string) *unstructured.Unstructured {
	for _, sm := range ofKind(objs, install.ServiceMonitor.Kind) {
		if sm.GetLabels()["app.kubernetes.io/component"] == component {
			return sm
		}
	}
	return nil
}

// checkServiceMonitor checks that sm selects target and none of others, and scrapes target's
// only port.
func checkServiceMonitor(t *testing.T, sm *unstructured.Unstructured, target *corev1.Service, others ...*corev1.Service) {
	t.Helper()
	selector, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if !labelsMatch(selector, target.Labels) {
		t.Errorf("ServiceMonitor %s selects %v; want the Service %s", sm.GetName(), selector, target.Name)
	}
	for _, o := range others {
		if labelsMatch(selector, o.Labels) {
			t.Errorf("ServiceMonitor %s selects the Service %s too", sm.GetName(), o.Name)
		}
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 || endpoints[0].(map[string]any)["port"] != target.Spec.Ports[0].Name {
		t.Errorf("ServiceMonitor %s endpoints %v, want the port %s", sm.GetName(), endpoints, target.Spec.Ports[0].Name)
	}
}

func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestDeploymentArgsParse runs the manager and gateway binaries with the arguments that the
// chart (with defaults and with every feature on) and config/default give them, followed by
// -help: a flag that a binary does not define makes it fail instead of printing its usage.
func TestDeploymentArgsParse(t *testing.T) {
	bin := t.TempDir()
	run(t, "go", "build", "-o", bin+"/", "../../cmd/manager", "../../cmd/gateway")
	manifests := map[string]func(t *testing.T) []byte{"kustomize": renderKustomize}
	for _, c := range chartCases {
		manifests["chart "+c.name] = func(t *testing.T) []byte { return renderChart(t, c.args...) }
	}
	for name, render := range manifests {
		t.Run(name, func(t *testing.T) {
			objs := decoded(t, render(t))
			for _, component := range []string{"manager", "gateway"} {
				ctr := deployment(t, objs, component).Spec.Template.Spec.Containers[0]
				if _, _, err := runErr(filepath.Join(bin, component), append(ctr.Args, "-help")...); err != nil {
					t.Errorf("%s %q: %v", component, ctr.Args, err)
				}
			}
		})
	}
}

// TestChartMonitoringFiles checks that the PrometheusRule carries exactly the groups of
// files/prometheus-rules.yaml (which test/monitoring checks with promtool), and that the
// dashboard ConfigMap carries files/grafana-dashboard.json verbatim with the label Grafana's
// sidecar loads dashboards by; and that neither is rendered unless enabled.
func TestChartMonitoringFiles(t *testing.T) {
	rulesFile, err := os.ReadFile(chartDir + "/files/prometheus-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules map[string]any
	if err := yaml.Unmarshal(rulesFile, &rules); err != nil {
		t.Fatal(err)
	}
	dashboardFile, err := os.ReadFile(chartDir + "/files/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chartCases {
		t.Run(c.name, func(t *testing.T) {
			objs := decoded(t, renderChart(t, c.args...))
			promRules, configMaps := ofKind(objs, install.PrometheusRule.Kind), ofKind(objs, "ConfigMap")
			if len(c.args) == 0 {
				if len(promRules)+len(configMaps) != 0 {
					t.Errorf("defaults render %d PrometheusRules and %d ConfigMaps, want none", len(promRules), len(configMaps))
				}
				return
			}
			if len(promRules) != 1 || len(configMaps) != 1 {
				t.Fatalf("%d PrometheusRules and %d ConfigMaps, want one each", len(promRules), len(configMaps))
			}
			groups, _, _ := unstructured.NestedSlice(promRules[0].Object, "spec", "groups")
			if !equality.Semantic.DeepEqual(groups, rules["groups"]) {
				t.Errorf("PrometheusRule groups differ from files/prometheus-rules.yaml:\n%v", groups)
			}
			var cm corev1.ConfigMap
			typed(t, configMaps[0], &cm)
			if cm.Labels["grafana_dashboard"] != "1" {
				t.Errorf("ConfigMap %s labels %v, want grafana_dashboard: \"1\"", cm.Name, cm.Labels)
			}
			if len(cm.Data) != 1 || cm.Data["stablering.json"] != strings.TrimSuffix(string(dashboardFile), "\n") {
				t.Errorf("ConfigMap %s data keys %v; want stablering.json, files/grafana-dashboard.json verbatim", cm.Name, keys(cm.Data))
			}
		})
	}
}

// TestGuideMonitoringFlags renders the chart with the --set flags of the user guide's command
// that turns monitoring on, and checks that they render both ServiceMonitors, the PrometheusRule
// and the dashboard ConfigMap.
func TestGuideMonitoringFlags(t *testing.T) {
	guide, err := os.ReadFile(repoRoot + "/docs/user-guide.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```sh\n(helm upgrade --install [^`]*prometheusRule.enabled=true[^`]*)```").FindSubmatch(guide)
	if block == nil {
		t.Fatal("docs/user-guide.md has no helm command that sets prometheusRule.enabled=true")
	}
	var args []string
	for _, m := range regexp.MustCompile(`--set (\S+)`).FindAllSubmatch(block[1], -1) {
		args = append(args, "--set", string(m[1]))
	}
	objs := decoded(t, renderChart(t, args...))
	for _, component := range []string{"gateway", "manager"} {
		if componentServiceMonitor(objs, component) == nil {
			t.Errorf("the guide's flags %q render no ServiceMonitor of the %s", args, component)
		}
	}
	if len(ofKind(objs, install.PrometheusRule.Kind)) != 1 || len(ofKind(objs, "ConfigMap")) != 1 {
		t.Errorf("the guide's flags %q render %d PrometheusRules and %d ConfigMaps, want one each", args,
			len(ofKind(objs, install.PrometheusRule.Kind)), len(ofKind(objs, "ConfigMap")))
	}
}
