# APPL-JOURNALD-001 verify: systemd-journald is active.
st=$(systemctl is-active systemd-journald.service 2>/dev/null | head -n1 | tr -cd 'a-z-')
[ -n "$st" ] || st=unknown
v=false; [ "$st" = active ] && v=true
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"state":"%s"}}\n' "$v" "$st"
