# Evaluates nix/module.nix against tests/nix/stub-lib.nix: `config` holds the options' defaults,
# enable = true,
# with `settings` laid over them; `pkgs` gives the paths of the plain unit (nix/msp-agent.service:
# the package in /usr, kill in /bin), so that the default rendering is that unit, line for line.
#   nix-instantiate --store dummy:// --eval --strict --json tests/nix/eval.nix \
#       --arg settings '{ stateDir = "/srv/msp"; }'
{ settings ? { } }:
let
  lib = import ./stub-lib.nix;
  pkgs = { callPackage = _path: _args: "/usr"; coreutils = ""; };
  module = import ../../nix/module.nix;
  evaluated = module { inherit config lib pkgs; };
  # settings replace what they name (a list setting replaces the default, as in NixOS)
  lay = a: b:
    if builtins.isAttrs a && builtins.isAttrs b then
      a // builtins.mapAttrs (k: v: if a ? ${k} then lay a.${k} v else v) b
    else b;
  cfg = lay (lay (lib.defaults evaluated.options.services.msp-agent) { enable = true; }) settings;
  config = { services.msp-agent = cfg; };
  out = evaluated.config;
  service = out.systemd.services.msp-agent or { };
  disabled = units: builtins.filter (name: (units.${name}.enable or null) == false) (builtins.attrNames units);
in
{
  serviceConfig = service.serviceConfig or null;
  unit = builtins.removeAttrs service [ "serviceConfig" ];
  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) (out.assertions or [ ]));
  tmpfiles = out.systemd.tmpfiles.rules or [ ];
  firewall = out.networking.firewall.allowedTCPPorts or [ ];
  # the privileged helper's template unit (its `path` needs nixpkgs: not evaluated here)
  privEnvironment = (out.systemd.services."msp-agent-priv@" or { }).environment or null;
  privServiceConfig = (out.systemd.services."msp-agent-priv@" or { }).serviceConfig or null;
  # the per-action drop-ins of the helper's units
  privInstances = let
    services = out.systemd.services or { };
    names = builtins.filter (n: lib.hasPrefix "msp-agent-priv@" n && n != "msp-agent-priv@")
      (builtins.attrNames services);
  in builtins.listToAttrs (map (n: { name = n; value = services.${n}.serviceConfig or { }; }) names);
  watchdogTimer = (out.systemd.timers or { }) ? msp-agent-priv-watchdog
    && out.systemd.timers.msp-agent-priv-watchdog != { };
  users = out.users or { };
  # the Go daemon's units that the module disables
  goDaemonDisabled = {
    services = disabled (out.systemd.services or { });
    timers = disabled (out.systemd.timers or { });
  };
}
