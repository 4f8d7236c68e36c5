# LIN-KERN-001 verify: runtime values and the persistent drop-in.
conf=$(msp_param conf_file)
rd() { v=$(cat "/proc/sys/net/$1" 2>/dev/null | tr -cd '0-9'); [ -n "$v" ] && echo "$v" || echo -1; }
f=$(rd ipv4/ip_forward); s=$(rd ipv4/tcp_syncookies); r=$(rd ipv4/conf/all/accept_redirects)
p=false
[ -r "$conf" ] && grep -q '^net.ipv4.ip_forward = 0$' "$conf" && grep -q '^net.ipv4.tcp_syncookies = 1$' "$conf" \
  && grep -q '^net.ipv4.conf.all.accept_redirects = 0$' "$conf" && p=true
v=false; [ "$f" = 0 ] && [ "$s" = 1 ] && [ "$r" = 0 ] && [ "$p" = true ] && v=true
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"ip_forward":%d,"tcp_syncookies":%d,"accept_redirects":%d,"persistent":%s}}\n' "$v" "$f" "$s" "$r" "$p"
