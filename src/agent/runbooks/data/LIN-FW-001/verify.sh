# LIN-FW-001 verify: active, default deny inbound, management port allowed.
mport=$(msp_param mgmt_port); case "$mport" in ''|*[!0-9]*) mport=0 ;; esac
backend=none; act=false; deny=false; open=false
if command -v ufw >/dev/null 2>&1 && ufw status verbose 2>/dev/null | grep -q '^Status: active'; then
  backend=ufw; act=true; st=$(ufw status verbose 2>/dev/null)
  printf '%s\n' "$st" | grep -q 'deny (incoming)' && deny=true
  { [ "$mport" -eq 0 ] || printf '%s\n' "$st" | grep -Eq "^$mport(/tcp)?[[:space:]].*ALLOW IN"; } && open=true
elif command -v nft >/dev/null 2>&1 && nft list table inet msp_agent >/dev/null 2>&1; then
  backend=nft; act=true; t=$(nft list table inet msp_agent 2>/dev/null)
  printf '%s\n' "$t" | grep -q 'hook input.*policy drop' && deny=true
  { [ "$mport" -eq 0 ] || printf '%s\n' "$t" | grep -Eq "tcp dport (\{[^}]*[ ,]|)$mport([ ,][^}]*\}|) accept"; } && open=true
fi
v=false; [ "$act" = true ] && [ "$deny" = true ] && [ "$open" = true ] && v=true
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"backend":"%s","active":%s,"default_deny":%s,"mgmt_port_open":%s}}\n' "$v" "$backend" "$act" "$deny" "$open"
