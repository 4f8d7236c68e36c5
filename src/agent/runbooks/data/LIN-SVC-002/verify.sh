# LIN-SVC-002 verify: auditd active, or journal files on persistent storage.
ad=$(systemctl is-active auditd 2>/dev/null | tr -cd 'a-z-'); [ -n "$ad" ] || ad=unknown
jp=false; [ -d /var/log/journal ] && [ -n "$(find /var/log/journal -name '*.journal' 2>/dev/null | head -1)" ] && jp=true
method=none; [ "$jp" = true ] && method=journal; [ "$ad" = active ] && method=auditd
ok=false; [ "$method" != none ] && ok=true
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"audit_ok":%s,"method":"%s","auditd":"%s","journal_persistent":%s}}\n' "$ok" "$ok" "$method" "$ad" "$jp"
