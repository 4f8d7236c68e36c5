package baseline

import (
	"crypto/sha256"
	"fmt"
	"regexp"
)

// The daemon's PHI scrubber (go-baseline.md §1): twelve patterns applied in turn, then the
// path pattern, then the hostname pattern; each a ReplaceAllStringFunc over the previous output,
// each match rendered with fmt.Sprintf and an 8-hex-digit SHA-256 prefix formatted by fmt.
type phiRule struct {
	tag string
	re  *regexp.Regexp
}

var phiRules = func() []phiRule {
	table := [][2]string{
		{"SSN-REDACTED", `\b\d{3}[-\s]\d{2}[-\s]\d{4}\b`},
		{"MRN-REDACTED", `(?i)\bMRN[:\s#]*\d{4,12}\b`},
		{"PATIENT-ID-REDACTED", `(?i)\bpatient[_\s]?id[:\s#]*[A-Za-z0-9\-]{3,20}\b`},
		{"PHONE-REDACTED", `(?:\(\d{3}\)\s*\d{3}[-.]?\d{4}|\b\d{3}[-.]?\d{3}[-.]?\d{4}\b)`},
		{"EMAIL-REDACTED", `\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b`},
		{"CC-REDACTED", `\b(?:\d{4}[-\s]?){3}\d{4}\b`},
		{"DOB-REDACTED", `(?i)\b(?:DOB|date\s*of\s*birth)[:\s]*\d{1,2}[/\-]\d{1,2}[/\-]\d{2,4}\b`},
		{"ADDRESS-REDACTED", `\b\d{1,6}\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*\s+(?:Street|St|Avenue|Ave|Boulevard|Blvd|Drive|Dr|Road|Rd|Lane|Ln|Court|Ct|Way|Place|Pl|Circle|Cir)\b`},
		{"ZIP-REDACTED", `\b\d{5}-\d{4}\b`},
		{"ACCOUNT-REDACTED", `(?i)\b(?:account|acct)[:\s#]*\d{4,20}\b`},
		{"INSURANCE-REDACTED", `(?i)\b(?:insurance|policy)\s*(?:id|#|number)[:\s]*[A-Za-z0-9\-]{4,20}\b`},
		{"MEDICARE-REDACTED", `(?i)\bmedicare[:\s#]*[A-Za-z0-9]{4}[-\s]?[A-Za-z0-9]{3}[-\s]?[A-Za-z0-9]{4}\b`},
	}
	rules := make([]phiRule, len(table))
	for i, t := range table {
		rules[i] = phiRule{t[0], regexp.MustCompile(t[1])}
	}
	return rules
}()

var (
	phiPathRe     = regexp.MustCompile(`(?i)(?:/(?:patient|ehr|medical)/)[^\s/]*`)
	phiHostnameRe = regexp.MustCompile(`(?i)\b(?:PATIENT|ROOM|BED|WARD|DR\.|MR\.|MS\.)[A-Za-z0-9_\-]*\b`)
)

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%x", sum[:4])
}

// Scrub returns text with every match of the fourteen patterns replaced, in the daemon's order.
func Scrub(text string) string {
	out := text
	for _, r := range phiRules {
		tag := r.tag
		out = r.re.ReplaceAllStringFunc(out, func(m string) string {
			return fmt.Sprintf("[%s-%s]", tag, shortHash(m))
		})
	}
	out = phiPathRe.ReplaceAllStringFunc(out, func(m string) string {
		return fmt.Sprintf("/[PATH-REDACTED-%s]", shortHash(m))
	})
	return phiHostnameRe.ReplaceAllStringFunc(out, func(m string) string {
		return fmt.Sprintf("[HOSTNAME-REDACTED-%s]", shortHash(m))
	})
}
