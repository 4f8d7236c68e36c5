// Command phi is the Go baseline of PHI scrubbing (go-baseline.md §1): the Go daemon's 14
// regular expressions applied one after another, each match replaced by [<TAG>-<h8>] with h8
// the first 8 hex characters of plain SHA-256 of the matched text.
//
//	phi -lines FILE [-big FILE] [-min-time 1s]
//
// FILE holds one text per line (the same bytes the Python side scrubs). It prints one JSON
// object per operation: {"op": ..., "ns_per_op": ..., "mb_per_s": ...}; with -out it also
// writes the scrubbed lines (to check the baseline's behaviour).
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

type rule struct {
	tag string
	re  *regexp.Regexp
}

var rules = []rule{
	{"SSN-REDACTED", regexp.MustCompile(`\b\d{3}[-\s]\d{2}[-\s]\d{4}\b`)},
	{"MRN-REDACTED", regexp.MustCompile(`(?i)\bMRN[:\s#]*\d{4,12}\b`)},
	{"PATIENT-ID-REDACTED", regexp.MustCompile(`(?i)\bpatient[_\s]?id[:\s#]*[A-Za-z0-9\-]{3,20}\b`)},
	{"PHONE-REDACTED", regexp.MustCompile(`(?:\(\d{3}\)\s*\d{3}[-.]?\d{4}|\b\d{3}[-.]?\d{3}[-.]?\d{4}\b)`)},
	{"EMAIL-REDACTED", regexp.MustCompile(`\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b`)},
	{"CC-REDACTED", regexp.MustCompile(`\b(?:\d{4}[-\s]?){3}\d{4}\b`)},
	{"DOB-REDACTED", regexp.MustCompile(`(?i)\b(?:DOB|date\s*of\s*birth)[:\s]*\d{1,2}[/\-]\d{1,2}[/\-]\d{2,4}\b`)},
	{"ADDRESS-REDACTED", regexp.MustCompile(`\b\d{1,6}\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*\s+(?:Street|St|Avenue|Ave|Boulevard|Blvd|Drive|Dr|Road|Rd|Lane|Ln|Court|Ct|Way|Place|Pl|Circle|Cir)\b`)},
	{"ZIP-REDACTED", regexp.MustCompile(`\b\d{5}-\d{4}\b`)},
	{"ACCOUNT-REDACTED", regexp.MustCompile(`(?i)\b(?:account|acct)[:\s#]*\d{4,20}\b`)},
	{"INSURANCE-REDACTED", regexp.MustCompile(`(?i)\b(?:insurance|policy)\s*(?:id|#|number)[:\s]*[A-Za-z0-9\-]{4,20}\b`)},
	{"MEDICARE-REDACTED", regexp.MustCompile(`(?i)\bmedicare[:\s#]*[A-Za-z0-9]{4}[-\s]?[A-Za-z0-9]{3}[-\s]?[A-Za-z0-9]{4}\b`)},
	{"PATH-REDACTED", regexp.MustCompile(`(?i)(?:/(?:patient|ehr|medical)/)[^\s/]*`)},
	{"HOSTNAME-REDACTED", regexp.MustCompile(`(?i)\b(?:PATIENT|ROOM|BED|WARD|DR\.|MR\.|MS\.)[A-Za-z0-9_\-]*\b`)},
}

func h8(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:8]
}

// scrub is the Go daemon's scrubber: 14 ReplaceAllStringFunc passes.
func scrub(s string) string {
	for _, r := range rules {
		tag := r.tag
		if tag == "PATH-REDACTED" {
			s = r.re.ReplaceAllStringFunc(s, func(m string) string { return "/[" + tag + "-" + h8(m) + "]" })
		} else {
			s = r.re.ReplaceAllStringFunc(s, func(m string) string { return "[" + tag + "-" + h8(m) + "]" })
		}
	}
	return s
}

func readLines(path string) ([]string, int) {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	text := strings.TrimSuffix(string(data), "\n")
	lines := strings.Split(text, "\n")
	n := 0
	for _, l := range lines {
		n += len(l)
	}
	return lines, n
}

type result struct {
	Op      string  `json:"op"`
	NsPerOp float64 `json:"ns_per_op"`
	MBPerS  float64 `json:"mb_per_s"`
	Bytes   int     `json:"bytes"`
}

// measure runs fn (after a warm-up) until minTime has passed; returns ns per call.
func measure(fn func(), minTime time.Duration) float64 {
	fn()
	calls := 0
	start := time.Now()
	for time.Since(start) < minTime || calls == 0 {
		fn()
		calls++
	}
	return float64(time.Since(start).Nanoseconds()) / float64(calls)
}

func emit(op string, ns float64, size int) {
	out, _ := json.Marshal(result{op, ns, float64(size) / 1e6 / (ns / 1e9), size})
	fmt.Println(string(out))
}

func main() {
	linesPath := flag.String("lines", "", "file with one text per line (scrubbed line by line)")
	bigPath := flag.String("big", "", "file scrubbed as one text")
	outPath := flag.String("out", "", "write the scrubbed lines here")
	minTime := flag.Duration("min-time", time.Second, "minimum measuring time per operation")
	flag.Parse()
	if *linesPath != "" {
		lines, size := readLines(*linesPath)
		if *outPath != "" {
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			for _, l := range lines {
				w.WriteString(scrub(l))
				w.WriteByte('\n')
			}
			w.Flush()
			if err := os.WriteFile(*outPath, buf.Bytes(), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
		}
		sink := 0
		ns := measure(func() {
			for _, l := range lines {
				sink += len(scrub(l))
			}
		}, *minTime)
		emit("phi_scrub_corpus_lines", ns, size)
		_ = sink
	}
	if *bigPath != "" {
		data, err := os.ReadFile(*bigPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		text := string(data)
		sink := 0
		ns := measure(func() { sink += len(scrub(text)) }, *minTime)
		emit("phi_scrub_big_text", ns, len(data))
		_ = sink
	}
}
