# LIN-CERT-001 remediate: renew with certbot or acme.sh; otherwise not_applicable.
res() { printf 'MSP_RESULT {"phase":"remediate","status":"%s","changed":%s,"actions":[%s],"reason":"%s"}\n' "$1" "$2" "$3" "$4"; }
p=$(msp_param path)
[ -f "$p" ] || { res not_applicable false '' "certificate file not found"; exit 0; }
acme=""
for c in "$HOME/.acme.sh/acme.sh" /root/.acme.sh/acme.sh; do [ -x "$c" ] && { acme=$c; break; }; done
[ -n "$acme" ] || acme=$(command -v acme.sh 2>/dev/null)
if command -v certbot >/dev/null 2>&1; then
  case "$p" in
    /etc/letsencrypt/live/*/*)
      name=$(basename "$(dirname "$p")")
      certbot renew --non-interactive --cert-name "$name" >/dev/null 2>&1 || { res failed false '' "certbot renew failed for $name"; exit 0; }
      res ok true "\"certbot renew --cert-name $name\"" "" ;;
    *)
      certbot renew --non-interactive >/dev/null 2>&1 || { res failed false '' "certbot renew failed"; exit 0; }
      res ok true '"certbot renew"' "" ;;
  esac
elif [ -n "$acme" ]; then
  "$acme" --cron >/dev/null 2>&1 || { res failed false '' "acme.sh --cron failed"; exit 0; }
  res ok true '"acme.sh --cron"' ""
elif command -v lego >/dev/null 2>&1; then
  res not_applicable false '' "lego is installed but needs its account arguments: a person must renew"
else
  res not_applicable false '' "no ACME client installed (certbot, acme.sh, lego)"
fi
