package ipbaseline

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func pod(name, ip string, ready bool) corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.PodStatus{PodIP: ip, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: status},
		}},
	}
}

func TestEndpointsKeepsOnlyReadyLivePods(t *testing.T) {
	terminating := pod("c", "127.0.0.4", true)
	terminating.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	got := Endpoints([]corev1.Pod{pod("b", "127.0.0.3", true), pod("a", "127.0.0.2", true),
		pod("d", "127.0.0.5", false), terminating, pod("e", "", true)}, 8080)
	want := []string{"127.0.0.2:8080", "127.0.0.3:8080"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Endpoints = %v, want %v", got, want)
	}
}

// TestNewAddressTakesKeysFromOtherMembers shows the problem StableRing solves: when one pod of
// three restarts with a new IP, keys that the restarted pod never owned change owner too.
func TestNewAddressTakesKeysFromOtherMembers(t *testing.T) {
	r := New("room", 8080)
	before := []corev1.Pod{pod("p0", "10.0.0.1", true), pod("p1", "10.0.0.2", true), pod("p2", "10.0.0.3", true)}
	if err := r.Update(before); err != nil {
		t.Fatal(err)
	}
	owners := map[string]string{}
	for i := range 3000 {
		k := "room-" + strconv.Itoa(i)
		owners[k], _ = r.Owner(k)
	}
	after := []corev1.Pod{pod("p0", "10.0.0.1", true), pod("p1", "10.0.0.2", true), pod("p2", "10.0.0.9", true)}
	if err := r.Update(after); err != nil {
		t.Fatal(err)
	}
	movedBetweenSurvivors, movedToNew := 0, 0
	for k, old := range owners {
		now, _ := r.Owner(k)
		switch {
		case now == "10.0.0.9:8080" && old != "10.0.0.3:8080":
			movedToNew++
		case now != old && old != "10.0.0.3:8080":
			movedBetweenSurvivors++
		}
	}
	if movedToNew == 0 {
		t.Fatal("no key of a surviving pod moved to the new address; the baseline would show no problem")
	}
	if movedBetweenSurvivors != 0 {
		t.Fatalf("%d keys moved between pods that did not change", movedBetweenSurvivors)
	}
	t.Logf("keys of unchanged pods taken by the new address: %d of %d", movedToNew, len(owners))
}

// listenOn serves h on ip at port (0: any) and returns the port.
func listenOn(t *testing.T, ip string, port int, h http.Handler) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return l.Addr().(*net.TCPAddr).Port
}

// named answers plain requests with name and echoes one WebSocket message prefixed with it.
func named(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Upgrade") == "" {
			_, _ = io.WriteString(w, name)
			return
		}
		c, err := websocket.Accept(w, req, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_, msg, err := c.Read(req.Context())
		if err == nil {
			_ = c.Write(req.Context(), websocket.MessageText, append([]byte(name+":"), msg...))
		}
	})
}

func TestRouterProxiesHTTPAndWebSocketToTheOwner(t *testing.T) {
	port := listenOn(t, "127.0.0.2", 0, named("p0"))
	listenOn(t, "127.0.0.3", port, named("p1"))
	r := New("room", port)
	if err := r.Update([]corev1.Pod{pod("p0", "127.0.0.2", true), pod("p1", "127.0.0.3", true)}); err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(r)
	defer gw.Close()

	want := map[string]string{"127.0.0.2:" + strconv.Itoa(port): "p0", "127.0.0.3:" + strconv.Itoa(port): "p1"}
	for i := range 20 {
		key := "room-" + strconv.Itoa(i)
		owner, _ := r.Owner(key)
		resp, err := http.Get(gw.URL + "/?room=" + key)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != want[owner] {
			t.Fatalf("key %s: served by %q, owner is %s (%s)", key, body, owner, want[owner])
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	owner, _ := r.Owner("lobby")
	c, _, err := websocket.Dial(ctx, "ws"+gw.URL[len("http"):]+"/ws?room=lobby", nil) //nolint:bodyclose // websocket.Dial's handshake response needs no closing
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(msg) != want[owner]+":hi" {
		t.Fatalf("websocket echo %q, want %q", msg, want[owner]+":hi")
	}
}

func TestRouterAnswersPreciseErrors(t *testing.T) {
	r := New("room", 8080)
	for _, tc := range []struct {
		url  string
		code int
	}{{"/ws", http.StatusBadRequest}, {"/ws?room=a", http.StatusServiceUnavailable}} {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.url, nil))
		if rec.Code != tc.code {
			t.Errorf("%s: status %d, want %d (%s)", tc.url, rec.Code, tc.code, rec.Body)
		}
	}
}
