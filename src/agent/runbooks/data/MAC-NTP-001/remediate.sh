# MAC-NTP-001 remediate: a time server when none is set, network time on (idempotent).
PATH="$PATH:/usr/libexec/ApplicationFirewall:/usr/sbin:/usr/bin:/sbin:/bin"; export PATH
res() { printf 'MSP_RESULT {"phase":"remediate","status":"%s","changed":%s,"actions":[%s],"reason":"%s"}\n' "$1" "$2" "$3" "$4"; }
ntp_state() {
  nt=$(systemsetup -getusingnetworktime 2>&1 | sed -n "s/^Network Time: \([A-Za-z]*\)\$/\1/p" | head -n 1)
  srv=$(systemsetup -getnetworktimeserver 2>&1 | sed -n "s/^Network Time Server: *//p" | head -n 1 | tr -d "\"\\\\")
  case "$nt" in On) on=true ;; *) on=false ;; esac; }
command -v systemsetup >/dev/null 2>&1 || { res not_applicable false '' "systemsetup not found: not a macOS host"; exit 0; }
ntp_state
[ "$nt" = On ] && [ -n "$srv" ] && { res ok false '' "already on"; exit 0; }
[ -n "$nt" ] || { res failed false '' "systemsetup did not report network time (administrator access?)"; exit 0; }
acts=""
if [ -z "$srv" ]; then systemsetup -setnetworktimeserver time.apple.com >/dev/null 2>&1; acts='"set time server time.apple.com"'; fi
if [ "$nt" != On ]; then systemsetup -setusingnetworktime on >/dev/null 2>&1; acts="${acts:+$acts,}\"network time on\""; fi
res ok true "$acts" ""
