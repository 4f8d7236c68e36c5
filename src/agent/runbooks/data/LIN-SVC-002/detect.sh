# LIN-SVC-002 detect: auditd active, or a persistent journal?
ad=$(systemctl is-active auditd 2>/dev/null | tr -cd 'a-z-'); [ -n "$ad" ] || ad=unknown
jp=false; [ -d /var/log/journal ] && [ -n "$(ls -A /var/log/journal 2>/dev/null)" ] && jp=true
d=true; { [ "$ad" = active ] || [ "$jp" = true ]; } && d=false
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"auditd":"%s","journal_persistent":%s}}\n' "$d" "$ad" "$jp"
