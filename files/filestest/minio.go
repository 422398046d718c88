package filestest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// MinIO is a MinIO server the test started: S3 on Endpoint (http://127.0.0.1:port), region
// us-east-1, signing with AccessKey and SecretKey.
type MinIO struct {
	Endpoint  string
	AccessKey string
	SecretKey string
	// Client is an AWS SDK v2 S3 client for the server, to look at objects as they are at rest.
	Client  *s3.Client
	buckets atomic.Int64
}

// MinIOPath finds bin/minio (built by `make bin/minio` from tools/minio) in the module root
// above the working directory; ESM_MINIO names another binary.
func MinIOPath() string {
	if p := os.Getenv("ESM_MINIO"); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "bin", "minio")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// StartMinIO starts bin/minio on a free loopback port with a data directory of the test's own
// and root credentials it makes up, waits until it is ready (/minio/health/ready) and stops it
// when the test ends. Without bin/minio the test is skipped, but under CI (CI=true) it fails
// saying how to build it: CI must test S3.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	bin := MinIOPath()
	if _, err := os.Stat(bin); bin == "" || err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but MinIO is missing at %q: run `make bin/minio` (tools/minio) before the tests; S3 storage must be tested in CI", bin)
		}
		t.Skipf("MinIO is missing at %q (make bin/minio): S3 storage is not tested here", bin)
	}
	dir := t.TempDir()
	port, console := freePort(t), freePort(t)
	m := &MinIO{
		Endpoint:  fmt.Sprintf("http://127.0.0.1:%d", port),
		AccessKey: "esm-test",
		SecretKey: "esm-test-secret-" + fmt.Sprint(time.Now().UnixNano()),
	}
	cmd := exec.Command(bin, "server", "--quiet",
		"--address", fmt.Sprintf("127.0.0.1:%d", port),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", console),
		filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+m.AccessKey,
		"MINIO_ROOT_PASSWORD="+m.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=1",
	)
	out, err := os.Create(filepath.Join(dir, "minio.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(m.Endpoint + "/minio/health/ready")
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "minio.out"))
			t.Fatalf("minio exited (%v): %s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "minio.out"))
			t.Fatalf("minio was not ready on %s within a minute: %s", m.Endpoint, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	m.Client = s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(m.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(m.AccessKey, m.SecretKey, ""),
		// The raw reads look at bytes, not at their integrity: no warnings about checksums
		// MinIO does not send for objects written without them.
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	return m
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Bucket creates a new empty bucket and answers its gocloud.dev/blob URL
// (s3://name?endpoint=...&region=us-east-1&use_path_style=true&response_checksum_validation=
// when_required), the form ESM_BLOB_URL takes.
// It sets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for the test, as an operator would, since
// the URL carries no credentials.
func (m *MinIO) Bucket(t testing.TB) (name, blobURL string) {
	t.Helper()
	name = fmt.Sprintf("esm-test-%d", m.buckets.Add(1))
	if _, err := m.Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", m.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", m.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	// response_checksum_validation=when_required: every segment of an object is authenticated
	// (AES-GCM) when ESM reads it, and the SDK otherwise warns on stderr for each multipart
	// object, whose composite checksum it cannot check.
	q := url.Values{"endpoint": {m.Endpoint}, "region": {"us-east-1"}, "use_path_style": {"true"}, "response_checksum_validation": {"when_required"}}
	return name, "s3://" + name + "?" + q.Encode()
}

// ReadRaw answers the object's bytes as MinIO holds them, through the S3 API, not through ESM.
func (m *MinIO) ReadRaw(t testing.TB, bucket, key string) []byte {
	t.Helper()
	out, err := m.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get s3://%s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// WriteRaw puts bytes under key through the S3 API, bypassing ESM (to tamper with an object).
func (m *MinIO) WriteRaw(t testing.TB, bucket, key string, b []byte) {
	t.Helper()
	_, err := m.Client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b))),
	})
	if err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
}

// Keys lists the bucket's object keys, through the S3 API.
func (m *MinIO) Keys(t testing.TB, bucket string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(m.Client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list s3://%s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}
