# LIN-SSH-001 verify: the effective global values and that sshd accepts the file.
cfg=$(msp_param config)
msp_first() { awk -v k="$1" 'tolower($1)=="match"{exit} tolower($1)==k{print tolower($2); exit}' "$cfg" | tr -cd 'a-z0-9-'; }
if [ ! -r "$cfg" ]; then
  printf 'MSP_RESULT {"phase":"verify","verified":false,"observed":{"readable":false}}\n'; exit 0
fi
rl=$(msp_first permitrootlogin); [ -n "$rl" ] || rl=prohibit-password
pa=$(msp_first passwordauthentication); [ -n "$pa" ] || pa=yes
sshd_bin=$(command -v sshd || ls /usr/sbin/sshd 2>/dev/null)
valid=false; [ -n "$sshd_bin" ] && "$sshd_bin" -t -f "$cfg" >/dev/null 2>&1 && valid=true
v=false; [ "$rl" != yes ] && [ "$pa" = no ] && [ "$valid" = true ] && v=true
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"root_login":"%s","password_auth":"%s","config_valid":%s}}\n' "$v" "$rl" "$pa" "$valid"
