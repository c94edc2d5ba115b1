package cluster_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"parley/internal/testkit"
)

// The sample nginx configuration (docs/deploy/nginx.conf), as written, in
// front of two cluster nodes: clients that all connect to nginx land on
// both nodes, and a message sent through one reaches every client. nginx
// is required in CI (.ci/run installs it) and skipped loudly elsewhere.
func TestNginxSampleConfig(t *testing.T) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("nginx is not installed; CI requires it (.ci/run installs it)")
			}
			t.Skip("SKIPPED LOUDLY: nginx is not installed, so the sample proxy configuration is not tested here (apt install nginx)")
		}
	}
	tc := startCluster(t, 2, nil)
	sample, err := os.ReadFile("../../docs/deploy/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	site := string(sample)
	servers := regexp.MustCompile(`(?m)^\s*server 10\.0\.0\.\d+:9001 (.*);\n`)
	if n := len(servers.FindAllString(site, -1)); n != 3 {
		t.Fatalf("the sample lists %d upstream servers, want 3", n)
	}
	first := true
	site = servers.ReplaceAllStringFunc(site, func(line string) string {
		if !first {
			return ""
		}
		first = false
		var out strings.Builder
		opts := servers.FindStringSubmatch(line)[1]
		for _, a := range tc.addrs {
			fmt.Fprintf(&out, "    server %s %s;\n", a, opts)
		}
		return out.String()
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if !strings.Contains(site, "listen 80;") {
		t.Fatal("the sample does not listen on 80")
	}
	site = strings.Replace(site, "listen 80;", "listen "+addr+";", 1)

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "parley.conf"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {}
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/parley.conf;
}
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	out := &strings.Builder{}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(testkit.WaitLimit); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx not listening within %v: %s %s", testkit.WaitLimit, out, b)
		}
	}

	var clients []*client
	for range 4 { // all at once: least_conn spreads them over both nodes
		cl := dial(t, addr)
		cl.join("general", "")
		clients = append(clients, cl)
	}
	for i, n := range tc.nodes {
		if got := n.Hub().Sessions(); got == 0 {
			t.Errorf("node %d: no connection through nginx, want some on each", i+1)
		}
	}
	sent := clients[0].do(map[string]any{"type": "SendMessage", "room": "general", "content": "through nginx"})
	want := sent[len(sent)-1].str("id")
	for i, cl := range clients {
		got := ""
		if i == 0 { // the sender's own copy may come before its Ack
			for _, f := range sent {
				if f.str("type") == "Message" {
					got = f.str("id")
				}
			}
		}
		if got == "" {
			got = nextMessage(cl).str("id")
		}
		if got != want {
			t.Errorf("client %d: got message %s, want %s", i, got, want)
		}
	}
}
