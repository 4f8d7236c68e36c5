# LIN-DISK-001 detect: is the filesystem at `mount` above the threshold?
mnt=$(msp_param mount); thr=$(msp_param threshold)
use=$(df -P "$mnt" 2>/dev/null | awk -v m="$mnt" 'NR==2 && $6==m {gsub("%","",$5); print $5}')
case "$use" in ''|*[!0-9]*) use=-1 ;; esac
d=true; [ "$use" -ge 0 ] && [ "$use" -le "$thr" ] && d=false
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"use_percent":%d,"threshold":%d}}\n' "$d" "$use" "$thr"
