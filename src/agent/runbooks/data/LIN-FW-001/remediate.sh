# LIN-FW-001 remediate: default-deny inbound that keeps the management port and current listeners.
res() { printf 'MSP_RESULT {"phase":"remediate","status":"%s","changed":%s,"actions":[%s],"reason":"%s"}\n' "$1" "$2" "$3" "$4"; }
backend=$(msp_param backend); mport=$(msp_param mgmt_port); transport=$(msp_param mgmt_transport)
case "$mport" in ''|*[!0-9]*) mport=0 ;; esac
if [ "$transport" = ssh ] && [ "$mport" -eq 0 ]; then res not_applicable false '' "management port unknown"; exit 0; fi
ports=$( { [ "$mport" -gt 0 ] && echo "$mport"; msp_param allow_ports; echo
  if command -v ss >/dev/null 2>&1; then
    ss -Htln 2>/dev/null | awk '{print $4}' | grep -v -e '^127\.' -e '^\[::1\]' | sed 's/.*://'
  fi; } | grep -E '^[0-9]{1,5}$' | sort -un)
[ "$transport" = ssh ] || [ -n "$ports" ] || ports=22  # never leave no way in
if [ "$backend" = auto ]; then
  if command -v ufw >/dev/null 2>&1; then backend=ufw; elif command -v nft >/dev/null 2>&1; then backend=nft; else backend=none; fi
fi
case "$backend" in
ufw)
  command -v ufw >/dev/null 2>&1 || { res not_applicable false '' "ufw not installed"; exit 0; }
  for p in $ports; do ufw allow "$p/tcp" >/dev/null 2>&1 || { res failed false '' "ufw allow $p failed"; exit 0; }; done
  ufw default deny incoming >/dev/null 2>&1 && ufw --force enable >/dev/null 2>&1 || { res failed true '' "ufw enable failed"; exit 0; }
  res ok true "\"ufw default deny incoming\",\"ufw enable\"" "allowed: $(echo $ports)" ;;
nft)
  command -v nft >/dev/null 2>&1 || { res not_applicable false '' "nft not installed"; exit 0; }
  dir=/etc/msp-agent; mkdir -p "$dir" 2>/dev/null
  f="$dir/firewall.nft"; [ -w "$dir" ] || f="${TMPDIR:-/tmp}/msp-agent-firewall.$$.nft"
  set=$(echo $ports | tr ' ' ',')
  {
    echo "table inet msp_agent"
    echo "delete table inet msp_agent"
    echo "table inet msp_agent {"
    echo "  chain input {"
    echo "    type filter hook input priority 0; policy drop;"
    echo "    ct state established,related accept"
    echo "    iif lo accept"
    echo "    meta l4proto { icmp, ipv6-icmp } accept"
    [ -n "$set" ] && echo "    tcp dport { $set } accept"
    echo "  }"
    echo "}"
  } > "$f.new" || exit 3
  nft -c -f "$f.new" >/dev/null 2>&1 || { rm -f "$f.new"; res failed false '' "ruleset rejected by nft -c"; exit 0; }
  mv -f "$f.new" "$f"
  nft -f "$f" >/dev/null 2>&1 || { res failed false '' "nft load failed"; exit 0; }
  persisted=false
  if [ -f /etc/nftables.conf ] && [ "$f" = /etc/msp-agent/firewall.nft ]; then
    grep -q '^include "/etc/msp-agent/firewall.nft"' /etc/nftables.conf \
      || printf '\ninclude "/etc/msp-agent/firewall.nft"\n' >> /etc/nftables.conf
    systemctl enable nftables >/dev/null 2>&1 && persisted=true
  fi
  res ok true "\"nft table inet msp_agent loaded\"" "allowed: $set; persistent: $persisted" ;;
*) res not_applicable false '' "no firewall backend (ufw or nft) installed" ;;
esac
