# LIN-FW-001 detect: is a default-deny inbound firewall active?
act=false
if command -v ufw >/dev/null 2>&1 && ufw status verbose 2>/dev/null | grep -q '^Status: active'; then
  ufw status verbose | grep -q 'deny (incoming)' && act=true
elif command -v nft >/dev/null 2>&1; then
  nft list ruleset 2>/dev/null | grep -q 'hook input.*policy drop' && act=true
fi
d=true; [ "$act" = true ] && d=false
printf 'MSP_RESULT {"phase":"detect","drifted":%s,"observed":{"default_deny":%s}}\n' "$d" "$act"
