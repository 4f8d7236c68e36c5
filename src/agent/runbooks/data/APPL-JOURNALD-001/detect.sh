# APPL-JOURNALD-001 detect: is systemd-journald active?
st=$(systemctl is-active systemd-journald.service 2>/dev/null | head -n1 | tr -cd 'a-z-')
[ -n "$st" ] || st=unknown
d=true; [ "$st" = active ] && d=false
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"state":"%s"}}\n' "$d" "$st"
