// veil-ttrpc-peer: the real Go ttrpc library (containerd/ttrpc 1.1.1, Debian's
// golang-github-containerd-ttrpc-dev) as a peer for veil's C ttrpc.
//
//	veil-ttrpc-peer server SOCKET                 serve the interop service until killed
//	veil-ttrpc-peer client SOCKET                 run the interop checks against a server
//	veil-ttrpc-peer bench-server SOCKET           serve Echo for the benchmark
//	veil-ttrpc-peer bench-client SOCKET SIZE CONC SECONDS
//
// Sizes: "payload" is the ttrpc Request.payload / Response.payload byte string
// (messages are raw bytes, see Raw). The frame-limit checks are stated in
// frame data bytes (the encoded ttrpc.Request / ttrpc.Response after the
// 10-byte header), which is what the 4 MiB limit applies to.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/ttrpc"
	"github.com/gogo/protobuf/proto"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	svc      = "veil.interop.Echo"
	maxData  = 4 << 20
	barrierN = 64
)

// Raw is a proto.Message whose encoding is its bytes, so payload sizes are exact.
type Raw struct{ B []byte }

func (r *Raw) Reset()                   { r.B = nil }
func (r *Raw) String() string           { return fmt.Sprintf("Raw(%d bytes)", len(r.B)) }
func (r *Raw) ProtoMessage()            {}
func (r *Raw) Marshal() ([]byte, error) { return r.B, nil }
func (r *Raw) Unmarshal(b []byte) error { r.B = b; return nil }

func varintLen(v int) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// responsePayloadFor returns the payload length whose successful Response
// (no Status, like the Go server sends) encodes to exactly n bytes.
func responsePayloadFor(n int) int {
	if n == 0 {
		return 0
	}
	for p := n - 2; p >= 0; p-- {
		if 1+varintLen(p)+p == n {
			return p
		}
	}
	return -1
}

// requestPayloadFor returns the payload length whose Request to method encodes to n bytes.
func requestPayloadFor(method string, n int) int {
	for p := n - len(svc) - len(method) - 4; p >= 0 && p > n-len(svc)-len(method)-20; p-- {
		r := &ttrpc.Request{Service: svc, Method: method, Payload: make([]byte, p)}
		if proto.Size(r) == n {
			return p
		}
	}
	return -1
}

type barrier struct {
	mu       sync.Mutex
	cond     *sync.Cond
	arrived  int
	timedOut bool
}

func serve(path string, bench bool) {
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	s, err := ttrpc.NewServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	b := &barrier{}
	b.cond = sync.NewCond(&b.mu)
	echo := func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
		var r Raw
		if err := unmarshal(&r); err != nil {
			return nil, err
		}
		return &r, nil
	}
	methods := map[string]ttrpc.Method{"Echo": echo}
	if !bench {
		// Sized: the request is a decimal n; the response frame data is exactly n bytes.
		methods["Sized"] = func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var r Raw
			if err := unmarshal(&r); err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(string(r.B))
			if err != nil {
				return nil, status.Errorf(codes.InvalidArgument, "bad size %q", r.B)
			}
			return &Raw{B: make([]byte, responsePayloadFor(n))}, nil
		}
		methods["Fail"] = func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			return nil, status.Errorf(codes.NotFound, "no such thing")
		}
		// Barrier: returns only once barrierN calls are in flight together.
		methods["Barrier"] = func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var r Raw
			if err := unmarshal(&r); err != nil {
				return nil, err
			}
			timer := time.AfterFunc(20*time.Second, func() {
				b.mu.Lock()
				b.timedOut = true
				b.cond.Broadcast()
				b.mu.Unlock()
			})
			defer timer.Stop()
			b.mu.Lock()
			b.arrived++
			b.cond.Broadcast()
			for b.arrived < barrierN && !b.timedOut {
				b.cond.Wait()
			}
			ok := b.arrived >= barrierN
			b.mu.Unlock()
			if !ok {
				return nil, status.Errorf(codes.DeadlineExceeded, "only %d calls arrived together", b.arrived)
			}
			return &Raw{B: append([]byte(nil), r.B...)}, nil
		}
		// Block: waits for the caller's deadline (timeout_nano) to cancel it.
		methods["Block"] = func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(20 * time.Second):
				return &Raw{}, nil
			}
		}
		// Meta: "<namespace metadata>|<has deadline>"
		methods["Meta"] = func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			ns, _ := ttrpc.GetMetadataValue(ctx, "containerd-namespace-ttrpc")
			_, has := ctx.Deadline()
			return &Raw{B: []byte(fmt.Sprintf("%s|%v", ns, has))}, nil
		}
	}
	s.Register(svc, methods)
	fmt.Println("READY")
	if err := s.Serve(context.Background(), l); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
}

func dial(path string) *ttrpc.Client {
	conn, err := net.Dial("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(1)
	}
	return ttrpc.NewClient(conn)
}

var failures int

func check(name string, ok bool, detail string) {
	if ok {
		fmt.Printf("ok   %s\n", name)
	} else {
		failures++
		fmt.Printf("FAIL %s: %s\n", name, detail)
	}
}

func expectCode(name string, err error, code codes.Code, msg string) {
	st, _ := status.FromError(err)
	check(name, err != nil && st.Code() == code && (msg == "" || st.Message() == msg),
		fmt.Sprintf("want %v %q, got %v", code, msg, err))
}

func call(c *ttrpc.Client, ctx context.Context, method string, in []byte) ([]byte, error) {
	var out Raw
	err := c.Call(ctx, svc, method, &Raw{B: in}, &out)
	return out.B, err
}

// client runs the interop checks against a (C) server.
func client(path string) {
	c := dial(path)
	defer c.Close()
	bg := context.Background()

	for _, n := range []int{0, 1024, 1 << 20} {
		in := bytes.Repeat([]byte{0xa5}, n)
		out, err := call(c, bg, "Echo", in)
		check(fmt.Sprintf("echo payload %d B", n), err == nil && bytes.Equal(in, out), fmt.Sprint(err))
	}
	// Request frames at the limit: 4 MiB - 1 and 4 MiB pass, 4 MiB + 1 is refused
	// by the server with ResourceExhausted and the connection stays usable.
	for _, n := range []int{maxData - 1, maxData, maxData + 1} {
		p := requestPayloadFor("Echo", n)
		in := make([]byte, p)
		out, err := call(c, bg, "Echo", in)
		name := fmt.Sprintf("request frame %d B (payload %d B)", n, p)
		if n <= maxData {
			check(name, err == nil && len(out) == p, fmt.Sprint(err))
		} else {
			expectCode(name+" -> ResourceExhausted", err, codes.ResourceExhausted, "")
		}
	}
	// Response frames: the C server refuses to send one over the limit.
	for _, n := range []int{maxData - 1, maxData, maxData + 1} {
		out, err := call(c, bg, "Sized", []byte(strconv.Itoa(n)))
		name := fmt.Sprintf("response frame %d B", n)
		if n <= maxData {
			check(name, err == nil && len(out) == responsePayloadFor(n), fmt.Sprint(err))
		} else {
			expectCode(name+" -> ResourceExhausted", err, codes.ResourceExhausted, "")
		}
	}
	_, err := call(c, bg, "Fail", nil)
	expectCode("error code + message round trip", err, codes.NotFound, "no such thing")
	_, err = call(c, bg, "NoSuchMethod", nil)
	expectCode("unknown method -> Unimplemented", err, codes.Unimplemented, "")

	md := ttrpc.MD{}
	md.Set("containerd-namespace-ttrpc", "k8s.io")
	tctx, cancel := context.WithTimeout(ttrpc.WithMetadata(bg, md), 10*time.Second)
	out, err := call(c, tctx, "Meta", nil)
	cancel()
	check("metadata and timeout_nano reach the handler", err == nil && string(out) == "k8s.io|true",
		fmt.Sprintf("%q %v", out, err))
	// timeout_nano honoured by the server: Block waits for cancellation.
	tctx, cancel = context.WithTimeout(bg, 200*time.Millisecond)
	_, err = call(c, tctx, "Block", nil)
	cancel()
	st, _ := status.FromError(err)
	check("deadline -> DeadlineExceeded", errors.Is(err, context.DeadlineExceeded) ||
		(err != nil && st.Code() == codes.DeadlineExceeded), fmt.Sprint(err))

	var wg sync.WaitGroup
	errs := make([]error, barrierN)
	for i := 0; i < barrierN; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			in := []byte(fmt.Sprintf("call-%d", i))
			out, err := call(c, bg, "Barrier", in)
			if err == nil && !bytes.Equal(in, out) {
				err = fmt.Errorf("got %q for %q", out, in)
			}
			errs[i] = err
		}(i)
	}
	wg.Wait()
	bad := 0
	for _, e := range errs {
		if e != nil {
			bad++
			fmt.Println("   ", e)
		}
	}
	check(fmt.Sprintf("%d concurrent calls in flight together", barrierN), bad == 0, fmt.Sprintf("%d failed", bad))
	out, err = call(c, bg, "Echo", []byte("still alive"))
	check("connection still usable", err == nil && string(out) == "still alive", fmt.Sprint(err))
	if failures > 0 {
		os.Exit(1)
	}
}

func benchClient(path string, size, conc int, secs float64) {
	c := dial(path)
	defer c.Close()
	payload := bytes.Repeat([]byte{1}, size)
	deadline := time.Now().Add(time.Duration(secs * float64(time.Second)))
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for time.Now().Before(deadline) {
				t0 := time.Now()
				var out Raw
				if err := c.Call(context.Background(), svc, "Echo", &Raw{B: payload}, &out); err != nil || len(out.B) != size {
					fmt.Fprintln(os.Stderr, "bench call:", err)
					os.Exit(1)
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Nanoseconds()) / 1000 }
	fmt.Printf("requests=%d rps=%.0f p50_us=%.1f p99_us=%.1f\n", len(all),
		float64(len(all))/elapsed.Seconds(), pct(0.50), pct(0.99))
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: veil-ttrpc-peer server|client|bench-server|bench-client SOCKET ...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "server":
		serve(os.Args[2], false)
	case "bench-server":
		serve(os.Args[2], true)
	case "client":
		client(os.Args[2])
	case "bench-client":
		if len(os.Args) != 6 {
			fmt.Fprintln(os.Stderr, "usage: veil-ttrpc-peer bench-client SOCKET SIZE CONC SECONDS")
			os.Exit(2)
		}
		size, _ := strconv.Atoi(os.Args[3])
		conc, _ := strconv.Atoi(os.Args[4])
		secs, _ := strconv.ParseFloat(os.Args[5], 64)
		benchClient(os.Args[2], size, conc, secs)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}
