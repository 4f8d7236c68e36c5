// Command gobench measures the Go baseline (package baseline) on the inputs the Python
// benchmarks use, and prints one JSON object per operation:
//
//	{"op", "mirrors", "rounds", "n", "ns_min", "ns_median", "cpu_ns_median", "bytes"}
//
// ns_* are wall nanoseconds per operation (min and median over rounds of n operations, n chosen
// so a round lasts about -round; short rounds, like pytest-benchmark's, so the minimum is
// little disturbed by other work on the machine); cpu_ns is the process's user+system CPU time
// (getrusage) over all rounds divided by the operations done.
//
//	gobench -shared DIR [-lines FILE] [-hit TEXT] [-clean TEXT] [-ed25519 FILE] [-round 2ms] [-time 1s] [-smoke] [-only a,b]
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"mspagent/bench/baseline"
)

type result struct {
	Op       string  `json:"op"`
	Mirrors  string  `json:"mirrors"`
	Rounds   int     `json:"rounds"`
	N        int     `json:"n"`
	NsMin    float64 `json:"ns_min"`
	NsMedian float64 `json:"ns_median"`
	CPUNs    float64 `json:"cpu_ns"`
	Bytes    int     `json:"bytes"`
}

var (
	roundTime = flag.Duration("round", 2*time.Millisecond, "target duration of one round")
	budget    = flag.Duration("time", time.Second, "measuring time per operation")
	smoke     = flag.Bool("smoke", false, "one call per operation (checks that everything runs)")
	only      = flag.String("only", "", "comma-separated operation prefixes (default: all)")
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gobench:", err)
	os.Exit(1)
}

func cpuNs() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func wanted(op string) bool {
	if *only == "" {
		return true
	}
	for _, p := range strings.Split(*only, ",") {
		if p != "" && strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

// measure calls fn (after one checked call) in rounds of n calls, n chosen so a round lasts
// about -round, for -time (at least 5 rounds), and prints the result.
func measure(op, mirrors string, size int, fn func() error) {
	if !wanted(op) {
		return
	}
	if err := fn(); err != nil {
		fail(fmt.Errorf("%s: %w", op, err))
	}
	n, maxRounds := 1, 1
	if !*smoke {
		for {
			t0 := time.Now()
			for i := 0; i < n; i++ {
				_ = fn()
			}
			if el := time.Since(t0); el >= *roundTime/4 || n >= 1<<28 {
				n = max(1, int(float64(n)*float64(*roundTime)/float64(el+1)))
				break
			}
			n *= 2
		}
		maxRounds = 1 << 30
	}
	var wall []float64
	c0, start := cpuNs(), time.Now()
	for len(wall) < maxRounds && (len(wall) < 5 || time.Since(start) < *budget) {
		t0 := time.Now()
		for i := 0; i < n; i++ {
			_ = fn()
		}
		wall = append(wall, float64(time.Since(t0).Nanoseconds())/float64(n))
	}
	cpu := float64(cpuNs()-c0) / float64(n*len(wall))
	minW := wall[0]
	for _, w := range wall {
		minW = min(minW, w)
	}
	line, _ := json.Marshal(result{op, mirrors, len(wall), n, minW, median(wall), cpu, size})
	fmt.Println(string(line))
}

func compact(path string) []byte {
	raw, err := os.ReadFile(path)
	if err != nil {
		fail(err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		fail(err)
	}
	return out.Bytes()
}

func readLines(path string) ([]string, int) {
	f, err := os.Open(path)
	if err != nil {
		fail(err)
	}
	defer f.Close()
	var lines []string
	size := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		size += len(sc.Text())
	}
	return lines, size
}

func main() {
	shared := flag.String("shared", "", "the shared directory (samples/)")
	lines := flag.String("lines", "", "PHI: a file of texts, one per line, scrubbed one by one")
	hit := flag.String("hit", "", "PHI: one line with matches")
	clean := flag.String("clean", "", "PHI: one line without matches")
	sigs := flag.String("ed25519", "", "Ed25519: an items file (see baseline.LoadEd25519Items)")
	flag.Parse()
	if *shared == "" {
		fail(fmt.Errorf("-shared is required"))
	}
	samples := filepath.Join(*shared, "samples")

	for _, c := range []struct{ op, file string }{
		{"checkin.encode_request", "checkin_request.json"},
		{"checkin.encode_request_large", "checkin_request_large.json"},
	} {
		var req baseline.CheckinRequest
		if err := json.Unmarshal(compact(filepath.Join(samples, c.file)), &req); err != nil {
			fail(err)
		}
		out, _ := baseline.EncodeRequest(&req)
		measure(c.op, "json.Marshal of the daemon's CheckinRequest struct", len(out), func() error {
			_, err := baseline.EncodeRequest(&req)
			return err
		})
	}
	for _, c := range []struct{ op, file string }{
		{"checkin.decode_response", "checkin_response.json"},
		{"checkin.decode_response_large", "checkin_response_large.json"},
	} {
		body := compact(filepath.Join(samples, c.file))
		measure(c.op, "json.Unmarshal into the daemon's CheckinResponse (orders, targets as maps)",
			len(body), func() error {
				_, err := baseline.DecodeResponse(body)
				return err
			})
	}

	resp, err := baseline.DecodeResponse(compact(filepath.Join(samples, "checkin_response_large.json")))
	if err != nil {
		fail(err)
	}
	prev := ""
	if len(resp.ServerPublicKeys) > 1 {
		prev = resp.ServerPublicKeys[1]
	}
	verifier, err := baseline.NewOrderVerifier(resp.ServerPublicKey, prev)
	if err != nil {
		fail(err)
	}
	// The samples' clock (samples/README.md): every order is valid then.
	steps := &baseline.OrderSteps{Verifier: verifier, ApplianceID: resp.ApplianceID,
		Now: time.Date(2026, 5, 20, 15, 0, 0, 0, time.UTC)}
	raw := resp.PendingOrders
	i := 0
	measure("orders.verify_signature", "OrderVerifier.VerifyOrder (hex decode, current then previous key)",
		0, func() error {
			o := raw[i%len(raw)]
			i++
			return verifier.VerifyOrder(o["signed_payload"].(string), o["signature"].(string))
		})
	j := 0
	measure("orders.verify", "order map -> Order, then the processor's checks: envelope key, "+
		"VerifyOrder, host scope, expiry (no nonce file)", 0, func() error {
		// A copy of the map, as each checkin decodes a fresh one (OrderFromMap writes into it).
		src := raw[j%len(raw)]
		j++
		m := make(map[string]interface{}, len(src))
		for k, v := range src {
			m[k] = v
		}
		if p, ok := src["parameters"].(map[string]interface{}); ok {
			cp := make(map[string]interface{}, len(p)+2)
			for k, v := range p {
				cp[k] = v
			}
			m["parameters"] = cp
		}
		o := baseline.OrderFromMap(m)
		return steps.Check(&o)
	})

	if *sigs != "" {
		items, err := baseline.LoadEd25519Items(*sigs)
		if err != nil {
			fail(err)
		}
		k := 0
		measure("ed25519.verify", "crypto/ed25519.Verify, one signature at a time", 0, func() error {
			it := items[k%len(items)]
			k++
			if !baseline.VerifyEd25519(it) {
				return fmt.Errorf("signature %d does not verify", k-1)
			}
			return nil
		})
	}
	if *lines != "" {
		texts, size := readLines(*lines)
		measure("phi.scrub_lines", "phiscrub.Scrub per line (14 ReplaceAllStringFunc passes)", size,
			func() error {
				for _, t := range texts {
					baseline.Scrub(t)
				}
				return nil
			})
	}
	if *hit != "" {
		measure("phi.scrub_line_hits", "phiscrub.Scrub of one line with matches", len(*hit), func() error {
			baseline.Scrub(*hit)
			return nil
		})
	}
	if *clean != "" {
		measure("phi.scrub_line_clean", "phiscrub.Scrub of one line without matches", len(*clean),
			func() error {
				baseline.Scrub(*clean)
				return nil
			})
	}
}
