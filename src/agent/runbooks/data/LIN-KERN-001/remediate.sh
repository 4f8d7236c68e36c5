# LIN-KERN-001 remediate: runtime + persistent drop-in; never cut forwarding a host depends on.
conf=$(msp_param conf_file)
res() { printf 'MSP_RESULT {"phase":"remediate","status":"%s","changed":%s,"actions":[%s],"reason":"%s"}\n' "$1" "$2" "$3" "$4"; }
case "$conf" in */60-msp-agent-net.conf) ;; *) res failed false '' "unexpected drop-in path"; exit 0 ;; esac
fwd=$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null)
if [ "$fwd" = 1 ]; then
  for i in /sys/class/net/*; do
    n=${i##*/}
    case "$n" in docker*|br-*|virbr*|cni*|flannel*|cali*|vxlan*|wg*|tun*|tap*|veth*|lxc*|lxd*|podman*|kube*)
      res not_applicable false '' "IP forwarding is in use (interface $n): a person must decide"; exit 0 ;;
    esac
  done
fi
dir=${conf%/*}
if ! { [ -d "$dir" ] || mkdir -p "$dir" 2>/dev/null; } || ! [ -w "$dir" ]; then
  res not_applicable false '' "sysctl.d is not writable (read-only /etc?)"; exit 0
fi
tmp="$conf.msp-new.$$"
{
  echo "# msp-agent LIN-KERN-001: kernel network hardening (managed file)"
  echo "net.ipv4.ip_forward = 0"
  echo "net.ipv4.tcp_syncookies = 1"
  echo "net.ipv4.conf.all.accept_redirects = 0"
  echo "net.ipv4.conf.default.accept_redirects = 0"
  [ -e /proc/sys/net/ipv6/conf/all/accept_redirects ] && echo "net.ipv6.conf.all.accept_redirects = 0"
  [ -e /proc/sys/net/ipv6/conf/default/accept_redirects ] && echo "net.ipv6.conf.default.accept_redirects = 0"
} > "$tmp" || { rm -f "$tmp"; exit 3; }
changed=false
if ! cmp -s "$tmp" "$conf"; then chmod 0644 "$tmp"; mv -f "$tmp" "$conf" || exit 3; changed=true; else rm -f "$tmp"; fi
n=0
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  key=${line%% =*}; val=${line##*= }
  p="/proc/sys/$(printf '%s' "$key" | tr . /)"
  [ "$(cat "$p" 2>/dev/null)" = "$val" ] && continue
  printf '%s\n' "$val" > "$p" 2>/dev/null || { res failed "$changed" '' "cannot set $key"; exit 0; }
  n=$((n+1)); changed=true
done < "$conf"
res ok "$changed" "\"drop-in written\",\"$n runtime values set\"" ""
