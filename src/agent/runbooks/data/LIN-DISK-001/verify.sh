# LIN-DISK-001 verify: the filesystem at `mount` is at most `threshold` percent used.
mnt=$(msp_param mount); thr=$(msp_param threshold)
use=$(df -P "$mnt" 2>/dev/null | awk -v m="$mnt" 'NR==2 && $6==m {gsub("%","",$5); print $5}')
case "$use" in ''|*[!0-9]*) use=-1 ;; esac
ok=false; [ "$use" -ge 0 ] && [ "$use" -le "$thr" ] && ok=true
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"mount":"%s","use_percent":%d,"threshold":%d,"under_threshold":%s}}\n' "$ok" "$mnt" "$use" "$thr" "$ok"
