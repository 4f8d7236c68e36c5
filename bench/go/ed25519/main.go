// Command ed25519 is the Go baseline of Ed25519 signature verification: the standard library's
// crypto/ed25519.Verify, one signature at a time (Go has no batch verifier).
//
//	ed25519 -in FILE [-min-time 1s] [-op NAME]
//
// FILE holds the items the Python side verifies, each as: 32-byte public key, 64-byte
// signature, 4-byte little-endian message length, message. It prints one JSON object:
// {"op": NAME, "ns_per_op": wall ns per signature, "cpu_ns_per_op": CPU (user + system) ns per
// signature, "valid": how many verified}. The CPU figure is the one to compare on a busy machine.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"

	"mspagent/bench/baseline"
)

func cpuNs() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func verifyAll(items []baseline.Ed25519Item) int {
	ok := 0
	for _, it := range items {
		if baseline.VerifyEd25519(it) {
			ok++
		}
	}
	return ok
}

func main() {
	in := flag.String("in", "", "items file")
	minTime := flag.Duration("min-time", time.Second, "minimum measuring time")
	op := flag.String("op", "ed25519_verify", "operation name")
	flag.Parse()
	items, err := baseline.LoadEd25519Items(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	valid := verifyAll(items) // warm up
	rounds := 0
	start, cpu0 := time.Now(), cpuNs()
	for time.Since(start) < *minTime {
		verifyAll(items)
		rounds++
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(rounds*len(items))
	cpu := float64(cpuNs()-cpu0) / float64(rounds*len(items))
	out, _ := json.Marshal(map[string]any{"op": *op, "ns_per_op": ns, "cpu_ns_per_op": cpu, "valid": valid})
	fmt.Println(string(out))
}
