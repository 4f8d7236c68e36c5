# MAC-NTP-001 verify: systemsetup reads network time back as On.
PATH="$PATH:/usr/libexec/ApplicationFirewall:/usr/sbin:/usr/bin:/sbin:/bin"; export PATH
ntp_state() {
  nt=$(systemsetup -getusingnetworktime 2>&1 | sed -n "s/^Network Time: \([A-Za-z]*\)\$/\1/p" | head -n 1)
  srv=$(systemsetup -getnetworktimeserver 2>&1 | sed -n "s/^Network Time Server: *//p" | head -n 1 | tr -d "\"\\\\")
  case "$nt" in On) on=true ;; *) on=false ;; esac; }
ntp_state
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"network_time":%s,"server":"%s"}}\n' "$on" "$on" "$srv"
