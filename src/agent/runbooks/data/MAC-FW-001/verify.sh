# MAC-FW-001 verify: the global state reads back as on.
PATH="$PATH:/usr/libexec/ApplicationFirewall:/usr/sbin:/usr/bin:/sbin:/bin"; export PATH
s=$(socketfilterfw --getglobalstate 2>&1 | sed -n 's/.*(State = \([0-9]\)).*/\1/p' | head -n 1)
case "$s" in 1|2) e=true ;; 0) e=false ;; *) e=false; s=-1 ;; esac
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"enabled":%s,"state":%s}}\n' "$e" "$e" "$s"
