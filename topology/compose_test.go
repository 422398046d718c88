package topology

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeEnv is the environment docker-compose.yml is interpolated with: every variable it
// requires (${VAR:?message}), as an operator sets them.
var composeEnv = map[string]string{
	"TEMPORAL_DB_PASSWORD":        "temporal-pw",
	"ESM_DB_PASSWORD":             "esm-pw",
	"ESM_JWT_SECRET":              "0123456789abcdef0123456789abcdef",
	"ESM_PAYLOAD_KEYS":            "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	"ESM_WEBHOOK_SECRET":          "webhook-secret",
	"ESM_PUBLIC_URL":              "https://esm.example.test",
	"ESM_UI_ORIGIN":               "https://temporal.example.test",
	"ESM_JWT_ISSUER":              "https://id.example.test",
	"ESM_JWKS":                    "https://id.example.test/keys",
	"ESM_SESSION_SECRET":          "0123456789abcdef0123456789abcdef0123",
	"TEMPORAL_AUTH_CLIENT_SECRET": "ui-secret",
	"MINIO_ROOT_PASSWORD":         "minio-root-pw",
	"ESM_S3_ACCESS_KEY":           "esm-files-user",
	"ESM_S3_SECRET_KEY":           "esm-files-secret",
}

// composeOnly are compose services with no process in topology.Plan, and why.
var composeOnly = map[string]string{
	"temporal-ui": "the Temporal UI (checked against the plan once the plan runs it)",
	"minio": "the attachments' bucket: the plan keeps files in a directory (ESM_BLOB_URL's default), " +
		"which a container's read-only root has not; compose keeps them in MinIO (checkFiles)",
	"minio-bucket": "the one-shot step making MinIO's bucket and ESM's user there (checkFiles)",
}

// composeOnlyWaited are the compose-only services a plan's process may wait for in
// docker-compose.yml beyond what the plan waits for: matchPlan leaves these depends_on out (and
// only these), checkFiles asks for them.
var composeOnlyWaited = map[string]bool{"minio-bucket": true}

// composeBucket is the bucket docker-compose.yml's ESM_BLOB_URL names and minio-bucket makes.
const composeBucket = "esm-files"

// checkFiles: every worker and API of the plan keeps its attachments in compose's MinIO: its
// ESM_BLOB_URL is s3://esm-files at http://minio:9000, its AWS credentials are ESM's MinIO user
// (ESM_S3_ACCESS_KEY, ESM_S3_SECRET_KEY, not MinIO's administrator), and it waits for
// minio-bucket to complete; minio-bucket waits for minio to be healthy, makes that bucket, and
// makes that user.
func checkFiles(p *types.Project, s *Spec) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	env := func(sv types.ServiceConfig, k string) string {
		if v := sv.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	for _, pr := range s.Processes {
		if len(pr.Command) < 2 || pr.Command[0] != "bin/esm" || (pr.Command[1] != "worker" && pr.Command[1] != "api") {
			continue
		}
		sv, ok := p.Services[pr.Name]
		if !ok {
			continue // planOnly, or missing (matchPlan says so)
		}
		if u := env(sv, "ESM_BLOB_URL"); !strings.HasPrefix(u, "s3://"+composeBucket+"?") || !strings.Contains(u, "endpoint=http://minio:9000") {
			bad("%s: ESM_BLOB_URL %q, want s3://%s?endpoint=http://minio:9000...", pr.Name, u, composeBucket)
		}
		if env(sv, "AWS_ACCESS_KEY_ID") != composeEnv["ESM_S3_ACCESS_KEY"] || env(sv, "AWS_SECRET_ACCESS_KEY") != composeEnv["ESM_S3_SECRET_KEY"] {
			bad("%s: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not ESM_S3_ACCESS_KEY/ESM_S3_SECRET_KEY", pr.Name)
		}
		if d, ok := sv.DependsOn["minio-bucket"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
			bad("%s keeps files in MinIO and does not wait for minio-bucket to complete", pr.Name)
		}
	}
	mb, ok := p.Services["minio-bucket"]
	if !ok {
		return append(errs, fmt.Errorf("docker-compose.yml has no minio-bucket, which makes the bucket"))
	}
	if d, ok := mb.DependsOn["minio"]; !ok || d.Condition != types.ServiceConditionHealthy {
		bad("minio-bucket does not wait for minio to be healthy")
	}
	script := strings.Join(mb.Command, "\n")
	for _, want := range []string{"mc mb --ignore-existing esm/" + composeBucket, `mc admin user add esm "$ESM_S3_ACCESS_KEY" "$ESM_S3_SECRET_KEY"`} {
		if !strings.Contains(script, want) {
			bad("minio-bucket does not run %s", want)
		}
	}
	if env(mb, "ESM_S3_ACCESS_KEY") != composeEnv["ESM_S3_ACCESS_KEY"] || env(mb, "ESM_S3_SECRET_KEY") != composeEnv["ESM_S3_SECRET_KEY"] {
		bad("minio-bucket's ESM_S3_ACCESS_KEY/ESM_S3_SECRET_KEY are not the variables'")
	}
	return errs
}

// planOnly are processes of topology.Plan that docker-compose.yml leaves to the operator, and why.
var planOnly = map[string]string{
	"idp":           "a development identity provider: in containers the company's (ESM_JWT_ISSUER, ESM_JWKS)",
	"esm-api-https": "an API serving https itself for the UI's codec: in containers the load balancer's https (ESM_PUBLIC_URL)",
}

// publicAt: a plan's variable that points at one of these processes points, in
// docker-compose.yml, at the public address the operator gives in this variable.
var publicAt = map[string]string{
	"esm-api-1":     "ESM_PUBLIC_URL",
	"esm-api-2":     "ESM_PUBLIC_URL",
	"esm-api-https": "ESM_PUBLIC_URL",
	"temporal-ui":   "ESM_UI_ORIGIN",
	"idp":           "ESM_JWT_ISSUER",
}

// loadCompose loads a docker-compose.yml's content with compose-go, interpolating env only.
func loadCompose(content []byte, env map[string]string) (*types.Project, error) {
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  "..",
		ConfigFiles: []types.ConfigFile{{Filename: "docker-compose.yml", Content: content}},
		Environment: env,
	}, func(o *loader.Options) { o.SetProjectName("esm", true) })
}

// checkCompose is what any compose file of ESM's must satisfy: every depends_on names a
// service, a service waited for as healthy has a health check, images are pinned (a tag other
// than latest, or a digest), no two services publish the same host port.
func checkCompose(p *types.Project) []error {
	var errs []error
	published := map[string]string{}
	for _, name := range sortedNames(p) {
		s := p.Services[name]
		for dep, d := range s.DependsOn {
			ds, ok := p.Services[dep]
			if !ok {
				errs = append(errs, fmt.Errorf("%s depends on %q, which is no service", name, dep))
				continue
			}
			if d.Condition == types.ServiceConditionHealthy && (ds.HealthCheck == nil || ds.HealthCheck.Disable || len(ds.HealthCheck.Test) == 0) {
				errs = append(errs, fmt.Errorf("%s waits for %s to be healthy, which has no health check", name, dep))
			}
		}
		if err := pinned(s.Image); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", name, err))
		}
		for _, port := range s.Ports {
			if port.Published == "" {
				continue
			}
			key := port.HostIP + ":" + port.Published + "/" + port.Protocol
			if other, ok := published[key]; ok && other != name {
				errs = append(errs, fmt.Errorf("host port %s is published by both %s and %s", key, other, name))
			}
			published[key] = name
		}
	}
	return errs
}

// pinned: an image reference with a tag other than latest, or a digest.
func pinned(image string) error {
	if image == "" {
		return fmt.Errorf("no image")
	}
	if strings.Contains(image, "@sha256:") {
		return nil
	}
	last := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(last, ":")
	if !ok || tag == "" {
		return fmt.Errorf("image %s has no tag", image)
	}
	if tag == "latest" {
		return fmt.Errorf("image %s is not pinned (latest)", image)
	}
	return nil
}

func sortedNames(p *types.Project) []string {
	names := make([]string, 0, len(p.Services))
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// planForCompose plans the topology with a fixed port sequence (the same plan each time).
func planForCompose(t *testing.T) *Spec {
	t.Helper()
	n := 20000
	s, err := Plan(Options{Root: "..", Data: t.TempDir(), PGBin: "/nonexistent",
		Port: func() (int, error) { n++; return n, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var loopbackAddr = regexp.MustCompile(`127\.0\.0\.1:(\d+)`)

// matchPlan compares the compose project with the plan `make topology` and the fault test run:
// the same processes (less planOnly, plus composeOnly), the same commands and arguments, every
// variable the plan sets present in compose and pointing at the same service, the same
// dependencies with the conditions the runner waits for (a setup step's exit 0, else ready).
func matchPlan(p *types.Project, s *Spec) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	byPort := map[int]string{}
	for _, pr := range s.Processes {
		for _, port := range pr.Ports {
			byPort[port] = pr.Name
		}
	}
	inPlan := map[string]bool{}
	for _, pr := range s.Processes {
		inPlan[pr.Name] = true
		if _, ok := planOnly[pr.Name]; ok {
			continue
		}
		sv, ok := p.Services[pr.Name]
		if !ok {
			bad("the plan runs %s, docker-compose.yml has no such service", pr.Name)
			continue
		}
		errs = append(errs, matchCommand(pr, sv, s)...)
		for k, v := range pr.Env {
			cv := sv.Environment[k]
			if cv == nil {
				bad("%s: the plan sets %s, docker-compose.yml does not", pr.Name, k)
				continue
			}
			for _, m := range loopbackAddr.FindAllStringSubmatch(v, -1) {
				port, _ := strconv.Atoi(m[1])
				target := byPort[port]
				if target == "" || target == pr.Name {
					continue // its own listening address
				}
				if v := publicAt[target]; v != "" && strings.Contains(*cv, composeEnv[v]) {
					continue // its public address, behind a proxy or the company's
				}
				if !strings.Contains(*cv, target+":") {
					bad("%s: %s is %s in the plan (%s), %q in docker-compose.yml", pr.Name, k, v, target, *cv)
				}
			}
		}
		want := map[string]string{}
		for _, d := range pr.DependsOn {
			if _, ok := planOnly[d]; ok {
				continue
			}
			dp, _ := s.Process(d)
			want[d] = types.ServiceConditionHealthy
			if dp.Once {
				want[d] = types.ServiceConditionCompletedSuccessfully
			}
		}
		got := map[string]string{}
		for d, c := range sv.DependsOn {
			if composeOnlyWaited[d] && !inPlanNamed(s, d) {
				continue // checkFiles asks for it
			}
			got[d] = c.Condition
		}
		if !reflect.DeepEqual(got, want) {
			bad("%s depends on %v in docker-compose.yml, the plan waits for %v", pr.Name, got, want)
		}
	}
	for _, name := range sortedNames(p) {
		if !inPlan[name] {
			if _, ok := composeOnly[name]; !ok {
				bad("docker-compose.yml runs %s, the plan does not", name)
			}
		}
	}
	return errs
}

// inPlanNamed: the plan runs a process of that name.
func inPlanNamed(s *Spec, name string) bool {
	_, ok := s.Process(name)
	return ok
}

// matchCommand compares one process's command with its service's entrypoint and command.
func matchCommand(pr Process, sv types.ServiceConfig, s *Spec) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(pr.Name+": "+format, a...)) }
	args := []string(pr.Command[1:])
	switch bin := pr.Command[0]; {
	case bin == "bin/esm":
		if len(sv.Entrypoint) != 0 || sv.Build == nil {
			bad("not the ESM image's own entrypoint (build %v, entrypoint %v)", sv.Build, sv.Entrypoint)
		}
		if !slices.Equal(sv.Command, args) {
			bad("command %q, the plan runs esm %q", sv.Command, args)
		}
	case bin == "bin/temporal-server":
		if !strings.HasPrefix(sv.Image, "temporalio/server:1.29.1") || !slices.Equal(sv.Entrypoint, []string{"temporal-server"}) {
			bad("image %s entrypoint %q, want temporalio/server:1.29.1 and temporal-server", sv.Image, sv.Entrypoint)
		}
		if !slices.Equal(sv.Command, args) {
			bad("command %q, the plan runs temporal-server %q", sv.Command, args)
		}
	case bin == "bin/temporal-ui-server":
		if !strings.HasPrefix(sv.Image, "temporalio/ui:") || !slices.Equal(sv.Entrypoint, []string{"/home/ui-server/ui-server"}) {
			bad("image %s entrypoint %q, want temporalio/ui and its ui-server", sv.Image, sv.Entrypoint)
		}
		if !slices.Equal(sv.Command, args) {
			bad("command %q, the plan runs the UI server %q", sv.Command, args)
		}
	case bin == "bin/temporal-sql-tool":
		if !strings.HasPrefix(sv.Image, "temporalio/admin-tools:1.29.1") || !slices.Equal(sv.Entrypoint, []string{"/bin/sh", "-ec"}) || len(sv.Command) != 1 {
			bad("image %s entrypoint %q command %q, want temporalio/admin-tools:1.29.1 running one sh -ec script", sv.Image, sv.Entrypoint, sv.Command)
			break
		}
		var got [][]string
		for _, line := range strings.Split(strings.TrimSpace(sv.Command[0]), "\n") {
			got = append(got, strings.Fields(line))
		}
		var want [][]string
		for _, c := range append([][]string{pr.Command}, pr.Then...) {
			w := append([]string{"temporal-sql-tool"}, c[1:]...)
			for i := 1; i+1 < len(w); i++ {
				switch w[i] {
				case "--ep": // the cluster listening on that port, by its service name
					w[i+1] = clusterOf(s, c) + ""
				case "-p":
					w[i+1] = "5432"
				}
			}
			want = append(want, w)
		}
		if !reflect.DeepEqual(got, want) {
			bad("runs\n%q\nthe plan runs\n%q", got, want)
		}
	case filepath.Base(bin) == "postgres":
		if !strings.HasPrefix(sv.Image, "postgres:") {
			bad("image %s, want postgres", sv.Image)
		}
		for _, c := range s.Clusters {
			if c.Name != pr.Name {
				continue
			}
			for _, db := range c.Databases {
				if v := sv.Environment["POSTGRES_DB"]; v != nil && *v == db {
					continue
				}
				if !createdByInitScript(sv, db) {
					bad("the plan's cluster has database %s, the service neither names it POSTGRES_DB nor creates it in /docker-entrypoint-initdb.d", db)
				}
			}
		}
	default:
		bad("no rule to compare %s with a compose service: add one to matchCommand", bin)
	}
	return errs
}

// clusterOf names the cluster a temporal-sql-tool command connects to (its -p port).
func clusterOf(s *Spec, cmd []string) string {
	for i := 0; i+1 < len(cmd); i++ {
		if cmd[i] == "-p" {
			port, _ := strconv.Atoi(cmd[i+1])
			for _, c := range s.Clusters {
				if c.Port == port {
					return c.Name
				}
			}
		}
	}
	return "?"
}

// createdByInitScript: a file the service mounts into /docker-entrypoint-initdb.d creates db.
func createdByInitScript(sv types.ServiceConfig, db string) bool {
	for _, v := range sv.Volumes {
		if v.Type != types.VolumeTypeBind || !strings.HasPrefix(v.Target, "/docker-entrypoint-initdb.d/") {
			continue
		}
		b, err := os.ReadFile(v.Source)
		if err == nil && regexp.MustCompile(`(?im)^\s*CREATE DATABASE\s+"?`+regexp.QuoteMeta(db)+`"?\s*;`).Match(b) {
			return true
		}
	}
	return false
}

// TestCompose: docker-compose.yml loads with compose-go with its required variables set, passes
// checkCompose, and runs what topology.Plan runs (matchPlan); a broken depends_on, an unset
// required variable, an unpinned image, a clashing host port, or a variable the plan sets and
// the file lost each make it fail.
func TestCompose(t *testing.T) {
	content, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	s := planForCompose(t)
	p, err := loadCompose(content, composeEnv)
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	for _, e := range checkCompose(p) {
		t.Error(e)
	}
	for _, e := range matchPlan(p, s) {
		t.Error(e)
	}
	for _, e := range checkFiles(p, s) {
		t.Error(e)
	}
	if api := p.Services[APIName(1)]; api.Environment["DATABASE_URL"] == nil || !strings.Contains(*api.Environment["DATABASE_URL"], "esm-pw@pg-esm:5432/esm") {
		t.Errorf("the API's DATABASE_URL was not interpolated: %v", api.Environment["DATABASE_URL"])
	}

	// mutate loads the file with one replacement (which must be there) and returns what fails.
	mutate := func(t *testing.T, old, new string, env map[string]string) []error {
		t.Helper()
		if !strings.Contains(string(content), old) {
			t.Fatalf("docker-compose.yml has no %q to change", old)
		}
		p, err := loadCompose([]byte(strings.Replace(string(content), old, new, 1)), env)
		if err != nil {
			return []error{err}
		}
		return append(append(checkCompose(p), matchPlan(p, s)...), checkFiles(p, s)...)
	}
	failsWith := func(t *testing.T, errs []error, want string) {
		t.Helper()
		for _, e := range errs {
			if strings.Contains(e.Error(), want) {
				t.Logf("fails as it should: %v", e)
				return
			}
		}
		t.Errorf("no error mentions %q: %v", want, errs)
	}

	t.Run("broken depends_on", func(t *testing.T) {
		failsWith(t, mutate(t, "      esm-catalog: {condition: service_completed_successfully}",
			"      esm-catalgo: {condition: service_completed_successfully}", composeEnv), "esm-catalgo")
	})
	t.Run("depends_on another condition", func(t *testing.T) {
		failsWith(t, mutate(t, "      esm-catalog: {condition: service_completed_successfully}",
			"      esm-catalog: {condition: service_started}", composeEnv), "the plan waits for")
	})
	required := regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*):\?`).FindAllStringSubmatch(string(content), -1)
	if len(required) == 0 {
		t.Fatal("docker-compose.yml requires no variable")
	}
	seen := map[string]bool{}
	for _, m := range required {
		name := m[1]
		if seen[name] {
			continue
		}
		seen[name] = true
		if composeEnv[name] == "" {
			t.Errorf("docker-compose.yml requires %s, which the test does not set", name)
		}
		t.Run("unset "+name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range composeEnv {
				if k != name {
					env[k] = v
				}
			}
			_, err := loadCompose(content, env)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("loads without %s: %v", name, err)
			}
		})
	}
	t.Run("unpinned image", func(t *testing.T) {
		failsWith(t, mutate(t, "image: temporalio/ui:2.42.1", "image: temporalio/ui", composeEnv), "has no tag")
		failsWith(t, mutate(t, "image: postgres:16.10", "image: postgres:latest", composeEnv), "not pinned")
	})
	t.Run("host port clash", func(t *testing.T) {
		failsWith(t, mutate(t, `ports: ["8082:8080"]`, `ports: ["8081:8080"]`, composeEnv), "published by both")
	})
	t.Run("variable the plan sets, lost", func(t *testing.T) {
		failsWith(t, mutate(t, "  ESM_HOOKS_URL: http://hooks:8091/hooks\n", "", composeEnv), "the plan sets ESM_HOOKS_URL")
	})
	t.Run("variable pointing elsewhere", func(t *testing.T) {
		failsWith(t, mutate(t, "TEMPORAL_ADDRESS: temporal:7233\n  TEMPORAL_NAMESPACE", "TEMPORAL_ADDRESS: pg-esm:7233\n  TEMPORAL_NAMESPACE", composeEnv), "TEMPORAL_ADDRESS")
	})
	t.Run("command drift", func(t *testing.T) {
		failsWith(t, mutate(t, `command: ["catalog", "apply", "-f", "examples"]`, `command: ["catalog", "apply", "-f", "/examples/it"]`, composeEnv), "the plan runs esm")
		failsWith(t, mutate(t, "--db temporal update-schema --schema-name postgresql/v12/temporal", "--db temporal update-schema --schema-name postgresql/v96/temporal", composeEnv), "the plan runs")
	})
	t.Run("files", func(t *testing.T) {
		failsWith(t, mutate(t, "      esm-catalog: {condition: service_completed_successfully}\n      minio-bucket: {condition: service_completed_successfully}\n",
			"      esm-catalog: {condition: service_completed_successfully}\n", composeEnv), "esm-api-1 keeps files in MinIO and does not wait for minio-bucket")
		failsWith(t, mutate(t, "      hooks: {condition: service_healthy}\n      minio-bucket: {condition: service_completed_successfully}\n",
			"      hooks: {condition: service_healthy}\n", composeEnv), "esm-worker-1 keeps files in MinIO and does not wait for minio-bucket")
		failsWith(t, mutate(t, "      <<: [*esm-env, *files-env]\n", "      <<: *esm-env\n", composeEnv), "esm-worker-1: ESM_BLOB_URL")
		failsWith(t, mutate(t, "AWS_ACCESS_KEY_ID: ${ESM_S3_ACCESS_KEY:?set ESM_S3_ACCESS_KEY, the access key of ESM's MinIO user}",
			"AWS_ACCESS_KEY_ID: ${MINIO_ROOT_USER:-minio-admin}", composeEnv), "are not ESM_S3_ACCESS_KEY")
		failsWith(t, mutate(t, "mc mb --ignore-existing esm/esm-files", "mc mb --ignore-existing esm/esm-file", composeEnv), "does not run mc mb")
		failsWith(t, mutate(t, "      minio: {condition: service_healthy}\n", "      minio: {condition: service_started}\n", composeEnv), "minio-bucket does not wait for minio")
		failsWith(t, mutate(t, "      test: [\"CMD\", \"mc\", \"ready\", \"local\"]\n", "", composeEnv), "waits for minio to be healthy, which has no health check")
		failsWith(t, mutate(t, "    image: minio/minio:RELEASE.2025-09-07T16-13-09Z", "    image: minio/minio", composeEnv), "has no tag")
		// Only minio-bucket may be waited for beyond the plan, not any compose-only service.
		failsWith(t, mutate(t, "      hooks: {condition: service_healthy}\n      minio-bucket",
			"      hooks: {condition: service_healthy}\n      minio: {condition: service_healthy}\n      minio-bucket", composeEnv), "the plan waits for")
	})
	t.Run("process missing", func(t *testing.T) {
		failsWith(t, mutate(t, "  esm-api-2:\n", "  esm-api-9:\n", composeEnv), "the plan runs esm-api-2")
		failsWith(t, mutate(t, "  esm-api-2:\n", "  esm-api-9:\n", composeEnv), "docker-compose.yml runs esm-api-9")
	})
}
